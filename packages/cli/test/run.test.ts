/**
 * `kubefx run`'s user errors, each one line on stderr and exit code 1, without a stack trace;
 * none of them needs a cluster.
 */

import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { errorLines, kubefx, root } from "./cli.ts"

const widget = "packages/cli/test/fixtures/widget.ts"

const failsWith = (args: ReadonlyArray<string>, line: string, env = {}) => {
  const result = kubefx(args, env)
  assert.strictEqual(result.status, 1)
  assert.deepStrictEqual(errorLines(result), [line])
}

describe("kubefx run", () => {
  it("names a module that does not exist", () => {
    failsWith(
      ["run", "src/nope.ts"],
      `kubefx: module not found: src/nope.ts (no file at ${path.join(root, "src/nope.ts")}); name the .ts or .js file that exports your registry`
    )
  })

  it("names the exports of a module without a registry", () => {
    failsWith(
      ["run", "packages/cli/test/fixtures/no-registry.ts"],
      "kubefx: no registry exported by packages/cli/test/fixtures/no-registry.ts (exports: colour, size); export one, e.g. export const registry = Registry.make(...), or name it: packages/cli/test/fixtures/no-registry.ts#<export>"
    )
  })

  it("says when the named export is not a registry", () => {
    failsWith(
      ["run", `${widget}#widget`],
      `kubefx: ${widget}#widget is not a registry (exports: registry, widget); name an export built with Registry.make`
    )
  })

  it("says where it looked for credentials when there are none", () => {
    failsWith(
      ["run", widget],
      "kubefx: no credentials: cannot load kubeconfig: no kubeconfig found: $KUBECONFIG is unset, ~/.kube/config does not exist, and this is not a pod (KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig PATH (and --context NAME), set $KUBECONFIG, or run in a pod with --in-cluster",
      { KUBECONFIG: undefined, HOME: "/nonexistent", KUBERNETES_SERVICE_HOST: undefined }
    )
  })

  it("says that --in-cluster needs a pod", () => {
    const result = kubefx(["run", widget, "--in-cluster"], { KUBERNETES_SERVICE_HOST: undefined })
    assert.strictEqual(result.status, 1)
    const lines = errorLines(result)
    assert.strictEqual(lines.length, 1)
    assert.match(
      lines[0] ?? "",
      /^kubefx: no credentials: .*KUBERNETES_SERVICE_HOST.*--in-cluster$/
    )
  })

  it("names the contexts a kubeconfig has when --context names another", () => {
    failsWith(
      ["run", widget, "--context", "elsewhere"],
      'kubefx: no credentials: cannot load kubeconfig: no context named "elsewhere" (known: nowhere); pass --kubeconfig PATH (and --context NAME), set $KUBECONFIG, or run in a pod with --in-cluster',
      { KUBECONFIG: "packages/cli/test/fixtures/unreachable.kubeconfig" }
    )
  })

  it("refuses flags that exclude each other", () => {
    failsWith(
      ["run", widget, "-A", "-n", "team-a"],
      "kubefx: --all-namespaces excludes --namespace; give one or the other"
    )
    failsWith(
      ["run", widget, "--in-cluster", "--kubeconfig", "/tmp/k"],
      "kubefx: --in-cluster excludes --kubeconfig and --context; give one or the other"
    )
  })

  it("logs in with the module's login activities, and refuses connection flags then", () => {
    const login = "packages/cli/test/fixtures/login.ts"
    failsWith(
      ["run", login],
      "kubefx: login activity 'vault' failed: the vault is sealed; the operator did not start"
    )
    failsWith(
      ["run", login, "--kubeconfig", "/tmp/k"],
      "kubefx: the module logs in itself (login activities: vault); drop --kubeconfig, --context and --in-cluster"
    )
  })

  it("documents its flags", () => {
    const result = kubefx(["run", "--help"])
    assert.strictEqual(result.status, 0)
    for (const flag of [
      "--namespace, -n",
      "--all-namespaces, -A",
      "--kubeconfig",
      "--context",
      "--in-cluster",
      "--verbose",
      "--debug",
      "--quiet",
      "--log-format",
      "--concurrency",
      "--post-events",
      "--field-manager",
      "--reporting-component",
      "--leader-elect",
      "--lease-name",
      "--lease-namespace",
      "--identity",
      "--lease-duration",
      "--renew-deadline",
      "--retry-period",
      "--sharded",
      "--shard-key",
      "--shard-filter"
    ])
      assert.include(result.stdout, flag)
  })

  it("says what is wrong with the flags of several replicas", () => {
    failsWith(
      ["run", widget, "--lease-name", "x"],
      "kubefx: --lease-name needs --leader-elect or --sharded; add one, or drop --lease-name"
    )
    failsWith(
      ["run", widget, "--leader-elect", "--lease-duration", "soon"],
      "kubefx: --lease-duration soon is not a duration; write it as 15s, 500ms or 2m"
    )
    failsWith(
      ["run", widget, "--leader-elect", "--sharded"],
      "kubefx: --leader-elect excludes --sharded: with one, a single replica handles everything; with the other, each handles a share; give one"
    )
    failsWith(
      ["run", widget, "--leader-elect", "--shard-key", "namespace"],
      "kubefx: --shard-key needs --sharded; drop it, or run --sharded instead of --leader-elect"
    )
  })
})

describe("kubefx run's logs", () => {
  const kubeconfig = "packages/cli/test/fixtures/unreachable.kubeconfig"
  const logging = "packages/cli/test/fixtures/logging.ts"

  /** The log lines of the logging fixture's run, which ends when its layer fails. */
  const logLines = (flags: ReadonlyArray<string>) => {
    const result = kubefx(["run", logging, "--kubeconfig", kubeconfig, ...flags])
    assert.strictEqual(result.status, 1)
    const lines = result.stderr.split("\n").filter((l) => l !== "")
    assert.strictEqual(
      lines.at(-1),
      `kubefx: the layer exported by ${logging} failed: stopped on purpose`
    )
    return lines.slice(0, -1)
  }

  /** A plain line is `<time> <LEVEL> [namespace/name] <message> <key=value>...`. */
  const messages = (lines: ReadonlyArray<string>) =>
    lines.map((l) => /^\S+ [A-Z]+ (?:\[\S+\] )?(.*?)(?: \w+=.*)?$/.exec(l)?.[1])

  it("show info and warnings by default, debug lines with --verbose, warnings only with --quiet", () => {
    assert.deepStrictEqual(messages(logLines([])), ["an info line", "a warning"])
    assert.deepStrictEqual(messages(logLines(["--verbose"])), [
      "a debug line",
      "an info line",
      "a warning"
    ])
    assert.deepStrictEqual(messages(logLines(["--quiet"])), ["a warning"])
  })

  it("name the object in brackets, as Kopf prints it", () => {
    assert.match(logLines([])[0] ?? "", / INFO \[team-a\/w1\] an info line$/)
  })

  it("are JSON objects with --log-format json", () => {
    const parsed = logLines(["--log-format", "json"]).map(
      (l) => JSON.parse(l) as { level: string; message: string; namespace?: string; name?: string }
    )
    assert.deepStrictEqual([parsed[0]?.namespace, parsed[0]?.name], ["team-a", "w1"])
    assert.deepStrictEqual(
      parsed.map((p) => [p.level, p.message]),
      [
        ["info", "an info line"],
        ["warn", "a warning"]
      ]
    )
  })

  it("says which module's layer failed", () => {
    failsWith(
      ["run", "packages/cli/test/fixtures/bad-layer.ts", "--kubeconfig", kubeconfig],
      'kubefx: the layer exported by packages/cli/test/fixtures/bad-layer.ts failed: SchemaError(Expected string at ["WIDGET_COLOUR_THAT_IS_UNSET"])'
    )
  })
})

describe("kubefx run's webhook flags", () => {
  const gadgets = "packages/cli/test/fixtures/webhooks.ts"
  const kubeconfig = ["--kubeconfig", "packages/cli/test/fixtures/unreachable.kubeconfig"]

  it("says that admission handlers need a webhook server", () => {
    failsWith(
      ["run", gadgets, ...kubeconfig],
      "kubefx: the registry has admission handlers or conversions (validate size-limit, mutate owner, convert parts.cli.kubefx.dev) but no webhook server: set the operator's `webhooks` setting (kubefx run: --webhook-port with --webhook-cert-dir or --webhook-generate-cert)"
    )
  })

  it("says that the webhook server needs certificates", () => {
    failsWith(
      ["run", gadgets, ...kubeconfig, "--webhook-port", "0"],
      "kubefx: the webhook server needs certificates: --webhook-cert-dir DIR (tls.crt, tls.key, ca.crt; e.g. cert-manager's Secret) or --webhook-generate-cert HOST (development)"
    )
  })

  it("names a malformed Service and a certificate folder that is not there", () => {
    failsWith(
      [
        "run",
        gadgets,
        ...kubeconfig,
        "--webhook-port",
        "0",
        "--webhook-generate-cert",
        "127.0.0.1",
        "--webhook-service",
        "svc"
      ],
      'kubefx: --webhook-service "svc" is not NAMESPACE/NAME[:PORT] (e.g. operators/widgets-webhook:443)'
    )
    const result = kubefx([
      "run",
      gadgets,
      ...kubeconfig,
      "--webhook-port",
      "0",
      "--webhook-cert-dir",
      "/nonexistent"
    ])
    assert.strictEqual(result.status, 1)
    assert.match(
      errorLines(result)[0] ?? "",
      /^kubefx: cannot read the webhook server's certificate \/nonexistent\/tls.crt: /
    )
  })
})
