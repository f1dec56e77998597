/**
 * A login activity against the real control plane: the operator's client takes a
 * ServiceAccount token from its login; when the ServiceAccount is deleted and made again, the
 * API server answers 401 to that token, and the operator logs in again and goes on serving:
 * through its writes and through its watch, which a fault proxy resets so that it must connect
 * again.
 */
import { readFileSync } from "node:fs"
import { assert, layer } from "@effect/vitest"
import { ControlPlane, FaultProxy } from "@kubefx/controlplane"
import { Activity, Builtins, Handler, Registry } from "@kubefx/core"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Schedule } from "effect"
import { Config, Kube, type KubeService } from "../src/index.ts"
import { ClusterLayer, captureLogs, configMap, freshClient, withOperator } from "./support.ts"

const serviceAccounts = Builtins.serviceAccounts
const { roles, roleBindings } = Builtins

const account = (namespace: string) => ({
  apiVersion: "v1",
  kind: "ServiceAccount",
  metadata: { name: "operator", namespace }
})

/** The account may do what the operator does with config maps in its namespace. */
const rights = (admin: KubeService, namespace: string) =>
  Effect.andThen(
    admin.create(roles, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "operator", namespace },
      rules: [
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch", "patch"] },
        { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] }
      ]
    }),
    admin.create(roleBindings, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "operator", namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "operator" },
      subjects: [{ kind: "ServiceAccount", name: "operator", namespace }]
    })
  )

/** A fresh token of the account (TokenRequest). */
const token = (admin: KubeService, namespace: string) =>
  Effect.map(
    admin.request({
      method: "POST",
      path: `/api/v1/namespaces/${namespace}/serviceaccounts/operator/token`,
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: {} }
    }),
    (answer) => (answer as { status: { token: string } }).status.token
  )

/** Whether the API server still takes `bearer`. */
const accepted = (server: string, ca: string, bearer: string) =>
  Effect.gen(function* () {
    const kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: "c", server, caData: Buffer.from(ca).toString("base64") }],
      users: [{ name: "u", token: bearer }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x"
    })
    const client = yield* Config.make(kc)
    return yield* client.request({ method: "GET", path: "/api" }).pipe(
      Effect.as(true),
      Effect.catchTag("Unauthorized", () => Effect.succeed(false))
    )
  }).pipe(Effect.scoped)

layer(ClusterLayer, { excludeTestServices: true, timeout: "3 minutes" })("login", (it) => {
  it.effect("a refused token is renewed by the login, for writes and for the watch", () =>
    Effect.gen(function* () {
      const admin = yield* Kube
      const cp = yield* ControlPlane.ControlPlane
      const client = yield* freshClient
      const ns = client.name
      yield* admin.create(serviceAccounts, account(ns))
      yield* rights(admin, ns)
      const ca = readFileSync(cp.caFile, "utf8")
      const server = new URL(cp.server)
      const proxy = yield* FaultProxy.make({ host: server.hostname, port: Number(server.port) })

      const tokens: Array<string> = []
      const handled: Array<string> = []
      const logs = captureLogs()
      const registry = Registry.make(
        Handler.onCreate(Builtins.configMaps, { id: "seen" }, (ctx) =>
          Effect.sync(() => handled.push(ctx.name))
        ),
        Activity.login(
          "token-request",
          Effect.map(token(admin, ns), (t) => {
            tokens.push(t)
            return { server: `https://127.0.0.1:${proxy.port}`, certificateAuthority: ca, token: t }
          })
        )
      )
      // The client logs its renewals through the logger of the context it was made in.
      const kube = yield* Effect.provide(Config.fromLogin(registry), logs.layer)
      yield* withOperator(registry, { namespaces: [ns], batchWindow: 0 }).pipe(
        Effect.provideService(Kube, kube),
        Effect.provide(logs.layer)
      )
      const handledAll = (names: ReadonlyArray<string>) =>
        Effect.suspend(() =>
          names.every((n) => handled.includes(n))
            ? Effect.void
            : Effect.fail(`handled so far: ${handled.join(", ")}`)
        ).pipe(
          Effect.retry(
            Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "60 seconds" }))
          )
        )

      yield* client.create(Builtins.configMaps, configMap(ns, "before"))
      yield* handledAll(["before"])
      assert.strictEqual(tokens.length, 1)

      // The token is bound to the account's uid: a new account of the same name refuses it.
      yield* admin.delete(serviceAccounts, "operator", { namespace: ns })
      yield* admin.create(serviceAccounts, account(ns))
      yield* accepted(cp.server, ca, tokens[0]!).pipe(
        Effect.filterOrFail((ok) => !ok),
        Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "30 seconds" })))
      )
      // The watch must connect again, with a token the server refuses.
      yield* proxy.setMode("reset")
      yield* Effect.sleep("300 millis")
      yield* proxy.setMode("pass")
      yield* client.create(Builtins.configMaps, configMap(ns, "after"))
      yield* handledAll(["before", "after"])

      assert.strictEqual(tokens.length, 2, "one login at start, one after the refusal")
      const lines = logs.lines.join("\n")
      assert.include(
        lines,
        "INFO logging in again: the API server refused the credentials of login 'token-request' (401)"
      )
      assert.strictEqual(logs.lines.filter((l) => l === "INFO logged in: token-request").length, 2)
      assert.deepStrictEqual(handled, ["before", "after"])
    })
  )
})
