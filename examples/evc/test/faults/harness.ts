/**
 * The fault suite's harness: one control plane for the file (audit log with the request bodies
 * of EVCs, their status and PVCs), the EVC CRD, StorageClass and the example's ClusterRole bound
 * to the operator's user, the fault proxy in front of the API server, and {@link run}, which
 * runs one scenario against a fresh namespace and checks what every scenario must hold.
 */

import { mkdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Audit, ControlPlane, FaultProxy, Kubeconfig } from "@kubefx/controlplane"
import { Builtins, type KubeObject } from "@kubefx/core"
import { Kube, type KubeService, Manifests, type Settings } from "@kubefx/runtime"
import { Context, Effect, Layer, Schedule, type Scope } from "effect"
import * as Deploy from "../../src/Deploy.ts"
import * as Checks from "./checks.ts"
import { evcs } from "./checks.ts"
import * as OperatorProcess from "./OperatorProcess.ts"

/** `KUBEFX_FAULTS_LONG=1`: the 200 s blackhole, the default idle timeout, more restarts. */
export const LONG = process.env.KUBEFX_FAULTS_LONG === "1"

/** `KUBEFX_FAULTS_LOGS=1`: keep every scenario's operator output, not only a failing one's. */
const KEEP_LOGS = process.env.KUBEFX_FAULTS_LOGS === "1"

export const OPERATOR_USER = "kubefx-faults-operator"
export const BINDING = "kubefx-faults-operator"

const namespaces = Builtins.namespaces
export const bindings = Builtins.clusterRoleBindings

/** The binding of the example's ClusterRole to the operator's user (deleted in one scenario). */
export const binding: KubeObject.KubeObject = {
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRoleBinding",
  metadata: { name: BINDING },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "kubefx-evc" },
  subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: OPERATOR_USER }]
}

/** What the scenarios share. */
export class Suite extends Context.Service<
  Suite,
  {
    readonly cluster: ControlPlane.Info
    readonly admin: KubeService
    readonly proxy: FaultProxy.FaultProxy
    /** The operator's user, through the proxy. */
    readonly operatorKubeconfig: string
  }
>()("test/faults/Suite") {}

const auditRequestBodies: ReadonlyArray<Audit.Bodies> = [
  { group: "kopf.dev", resources: ["ephemeralvolumeclaims", "ephemeralvolumeclaims/status"] },
  { group: "", resources: ["persistentvolumeclaims"] }
]

/**
 * The suite's layer. The garbage collector is not waited for (as evc.integration.test.ts does):
 * no scenario deletes an EVC.
 */
export const SuiteLive = Layer.effect(
  Suite,
  Effect.gen(function* () {
    const cluster = yield* ControlPlane.start({ auditRequestBodies })
    const admin = yield* Kube.make(yield* Kube.loadFile(cluster.kubeconfig))
    const role = Deploy.read("rbac.yaml").filter((o) => o.kind === "ClusterRole")
    yield* Manifests.apply([
      ...Deploy.read("crd.yaml"),
      ...Deploy.read("storageclass.yaml"),
      ...role,
      binding
    ]).pipe(Effect.provideService(Kube, admin))
    yield* Manifests.awaitEstablished("ephemeralvolumeclaims.kopf.dev").pipe(
      Effect.provideService(Kube, admin)
    )
    const proxy = yield* FaultProxy.make({
      host: "127.0.0.1",
      port: Number(new URL(cluster.server).port)
    })
    const direct = yield* cluster.userKubeconfig(OPERATOR_USER)
    const operatorKubeconfig = Kubeconfig.through(direct, `https://127.0.0.1:${proxy.port}`)
    return { cluster, admin, proxy, operatorKubeconfig }
  }).pipe(Effect.orDie)
)

/** An EVC asking for 1G. */
export const claim = (namespace: string, name: string): KubeObject.KubeObject => ({
  apiVersion: "kopf.dev/v1",
  kind: "EphemeralVolumeClaim",
  metadata: { name, namespace },
  spec: { size: "1G" }
})

/** What a scenario's body can do. */
export interface Scenario {
  readonly namespace: string
  /** The operator running now (the last one started). */
  readonly operator: () => OperatorProcess.OperatorProcess
  /** Starts another operator process (the scenario's settings); it becomes {@link operator}. */
  readonly startOperator: Effect.Effect<OperatorProcess.OperatorProcess, never, Scope.Scope>
  /** Creates `count` EVCs `<prefix>-<i>`, `spacing` ms apart, retrying while the API server is
   * away (an EVC that exists already counts as created). */
  readonly create: (prefix: string, count: number, spacing?: number) => Effect.Effect<void>
  /** The fault is over (the proxy passes again, the server is back, ...): convergence is timed
   * from here. */
  readonly faultEnded: Effect.Effect<void>
  /** Waits until every EVC created so far has converged; answers the milliseconds it took, or
   * fails with what is missing and the operator's last lines. */
  readonly converged: (within: number) => Effect.Effect<number, string>
  /** Something the scenario found wrong; reported with the others at the end. */
  readonly problem: (message: string) => Effect.Effect<void>
  /** A line for the timing report. */
  readonly report: (line: string) => Effect.Effect<void>
}

/** How a scenario runs. */
export interface Options {
  /** The operator's runtime settings (as `KUBEFX_SETTINGS`). */
  readonly settings?: Settings.Input
  /** Start the operator and converge a few EVCs before the body (default true). */
  readonly warmUp?: boolean
  /** The body kills kube-apiserver while the operator works: an audit event of a request the
   * server completed in etcd may be lost with it, so "exactly once" becomes "at most once". */
  readonly killsApiServer?: boolean
  /** How long the EVCs may take to converge after the fault ended (default 90 s). */
  readonly convergeWithin?: number
}

/** How long SIGTERM may take: the runtime's shutdown timeout (10 s) plus a generous margin. */
export const TERMINATE_WITHIN = 10_000 + 20_000

let namespaceCounter = 0

const freshNamespace = (admin: KubeService, title: string) =>
  Effect.gen(function* () {
    const slug = title.replace(/[^a-z0-9]+/g, "-").slice(0, 20)
    const name = `f-${slug}-${Date.now().toString(36)}-${namespaceCounter++}`
    yield* admin.create(namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name } })
    return name
  }).pipe(Effect.orDie)

/** Writes to stderr: vitest shows it for passing tests too (console output only on failure). */
export const print = (line: string) => Effect.sync(() => process.stderr.write(`${line}\n`))

/**
 * Runs scenario `title`: a fresh namespace, an operator (warmed up), `body`, then the checks
 * of every scenario (see checks.ts); fails with every problem found, the operator's last log
 * lines, and the folder where the whole output of the scenario's operators was written.
 */
export const run = (
  title: string,
  options: Options,
  body: (scenario: Scenario) => Effect.Effect<void, never, Scope.Scope | Suite>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const suite = yield* Suite
      const auditFrom = Audit.offset(suite.cluster.auditLog ?? "")
      const namespace = yield* freshNamespace(suite.admin, title)
      const state = new State(suite, namespace, options, auditFrom)
      const scenario = state.scenario()
      if (options.warmUp !== false) {
        yield* scenario.startOperator
        yield* scenario.create("warm-up", 3)
        yield* scenario
          .converged(60_000)
          .pipe(Effect.catch((why) => scenario.problem(`before the fault: ${why}`)))
      }
      if (state.problems.length === 0) {
        yield* body(scenario)
        yield* state.finish(title)
      }
      if (state.problems.length > 0) return yield* Effect.die(new Error(state.report(title)))
    })
  )

/** A scenario's running state. */
class State {
  readonly suite: Suite["Service"]
  readonly namespace: string
  readonly options: Options
  readonly names = new Set<string>()
  readonly problems: Array<string> = []
  readonly operators: Array<OperatorProcess.OperatorProcess> = []
  readonly auditFrom: number
  faultEndedAt = Date.now()
  constructor(suite: Suite["Service"], namespace: string, options: Options, auditFrom: number) {
    this.suite = suite
    this.namespace = namespace
    this.options = options
    this.auditFrom = auditFrom
  }

  current = (): OperatorProcess.OperatorProcess => {
    const last = this.operators.at(-1)
    if (last === undefined) throw new Error("the scenario started no operator")
    return last
  }

  /** The failure message: every problem, then the last operator's last lines. */
  report = (title: string): string => {
    const operator = this.operators.at(-1)
    const log =
      operator === undefined
        ? ""
        : `\n\n--- the operator (pid ${operator.pid}; all output in ${this.saveLogs()}), last lines:\n${operator.tail(40)}`
    const numbered = this.problems.map((problem, i) => `${i + 1}. ${problem}`)
    return `${title}: ${this.problems.length} problem(s)\n\n${numbered.join("\n\n")}${log}`
  }

  /** What the scenario's operators logged about the EVCs `names`. */
  about = (names: ReadonlyArray<string>): string =>
    names
      .map((name) => {
        const entries = this.operators.flatMap((operator) =>
          Checks.entriesAbout(operator.lines(), this.namespace, name).map(
            (entry) => `(pid ${operator.pid}) ${entry}`
          )
        )
        return `\n   the operator's log entries about ${name}:\n${entries.slice(-20).join("\n") || "   (none)"}`
      })
      .join("")

  /** Writes every operator's output to a folder under the temporary directory; its path. */
  saveLogs = (): string => {
    const dir = join(tmpdir(), "kubefx-faults", this.namespace)
    mkdirSync(dir, { recursive: true })
    for (const operator of this.operators) {
      writeFileSync(join(dir, `operator-${operator.pid}.log`), `${operator.lines().join("\n")}\n`)
    }
    return dir
  }

  scenario = (): Scenario => ({
    namespace: this.namespace,
    operator: this.current,
    startOperator: Effect.tap(
      OperatorProcess.start(this.suite.operatorKubeconfig, this.options.settings ?? {}),
      (operator) => Effect.sync(() => this.operators.push(operator))
    ),
    create: (prefix, count, spacing = 0) =>
      Effect.forEach(
        Array.from({ length: count }, (_, i) => `${prefix}-${i}`),
        (name, i) =>
          Effect.andThen(
            i > 0 && spacing > 0 ? Effect.sleep(spacing) : Effect.void,
            this.create(name)
          )
      ).pipe(Effect.asVoid),
    faultEnded: Effect.sync(() => {
      this.faultEndedAt = Date.now()
    }),
    converged: (within) => this.converged(within),
    problem: (message) => Effect.sync(() => this.problems.push(message)),
    report: (line) => print(`[faults] ${line}`)
  })

  create = (name: string) =>
    this.suite.admin.create(evcs, claim(this.namespace, name)).pipe(
      Effect.catchTag("AlreadyExists", () => Effect.void),
      Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 600 }),
      Effect.tap(() => Effect.sync(() => this.names.add(name))),
      Effect.orDie,
      Effect.asVoid
    )

  converged = (within: number): Effect.Effect<number, string> =>
    Checks.converge(this.suite.admin, this.namespace, [...this.names], within, () =>
      this.operators.at(-1)?.ended()
    ).pipe(Effect.map(() => Date.now() - this.faultEndedAt))

  /** The checks every scenario ends with. */
  finish = (title: string) =>
    Effect.gen(
      function* (this: State) {
        const within = this.options.convergeWithin ?? 90_000
        const outcome = yield* Effect.result(this.converged(within))
        const converged = outcome._tag === "Success"
        yield* print(
          `[faults] ${title}: ${
            converged
              ? `${this.names.size} EVCs converged ${(outcome.success / 1000).toFixed(1)} s after the fault ended`
              : `did NOT converge within ${within / 1000} s after the fault ended`
          }`
        )
        if (!converged) this.problems.push(outcome.failure)
        const ended = this.current().ended()
        if (converged && ended !== undefined) {
          this.problems.push(`the operator exited after the fault: ${Checks.describeEnd(ended)}`)
        }
        this.auditChecks(converged)
        if (ended === undefined) yield* this.terminate(title)
        if (KEEP_LOGS)
          yield* print(`[faults] ${title}: the operators' output is in ${this.saveLogs()}`)
      }.bind(this)
    )

  /** The audit log's checks; an EVC that never converged has no write to find, so "none"
   * counts only when all converged. */
  auditChecks = (converged: boolean) => {
    const findings = Checks.audit(
      this.suite.cluster.auditLog ?? "",
      this.namespace,
      OPERATOR_USER,
      [...this.names],
      this.options.killsApiServer === true || !converged,
      this.auditFrom
    )
    for (const found of findings) {
      this.problems.push(`${found.message}${this.about(found.names.slice(0, 2))}`)
    }
  }

  terminate = (title: string) =>
    Effect.gen(
      function* (this: State) {
        const stopped = yield* this.current().terminate(TERMINATE_WITHIN)
        if (stopped === undefined) {
          yield* print(`[faults] ${title}: SIGTERM did NOT stop the operator`)
          this.problems.push(
            `SIGTERM did not stop the operator within ${TERMINATE_WITHIN / 1000} s (it was killed)`
          )
          return
        }
        yield* print(
          `[faults] ${title}: SIGTERM stopped the operator in ${(stopped.millis / 1000).toFixed(1)} s (${Checks.describeEnd(stopped.ended)})`
        )
        if (stopped.ended.code !== 0) {
          this.problems.push(
            `on SIGTERM the operator ended with ${Checks.describeEnd(stopped.ended)}, not exit code 0`
          )
        }
      }.bind(this)
    )
}
