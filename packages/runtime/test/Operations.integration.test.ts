import * as net from "node:net"
import { assert, layer } from "@effect/vitest"
import { ControlPlane, FaultProxy, Ports, Promlint } from "@kubefx/controlplane"
import { Handler, Registry } from "@kubefx/core"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Exit, Fiber, Logger, Metric } from "effect"
import { Kube, type KubeOptions, Logging, Operator } from "../src/index.ts"
import { ClusterLayer, configMap, configMaps, eventually, freshNamespace } from "./support.ts"

/** A client of the shared control plane through a fault proxy. */
const faultyClient = (options: KubeOptions = {}) =>
  Effect.gen(function* () {
    const cp = yield* ControlPlane.ControlPlane
    const server = new URL(cp.server)
    const proxy = yield* FaultProxy.make({ host: server.hostname, port: Number(server.port) })
    const kc = yield* Kube.loadFile(cp.kubeconfig)
    const proxied = new KubeConfig()
    proxied.loadFromClusterAndUser(
      { ...kc.getCurrentCluster()!, server: `https://127.0.0.1:${proxy.port}` },
      kc.getCurrentUser()!
    )
    return { proxy, kube: yield* Kube.make(proxied, options) }
  }).pipe(Effect.orDie)

/** GET `url`: status and body; `undefined` while nothing listens. */
const get = (url: string) =>
  Effect.promise(() =>
    fetch(url)
      .then(async (res) => ({ status: res.status, body: await res.text() }))
      .catch(() => undefined)
  )

/** Polls `url` until its status is `status`. */
const awaitStatus = (url: string, status: number) =>
  eventually(
    Effect.flatMap(get(url), (res) =>
      res?.status === status
        ? Effect.succeed(res)
        : Effect.fail(`${url}: ${res === undefined ? "no answer" : `${res.status} ${res.body}`}`)
    )
  )

/** The value of one series in Prometheus text (`name{labels} value`); 0 when absent. */
const sample = (text: string, series: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

/** The sum of every series of a metric whose labels include `labels` (`a="b"` fragments). */
const total = (text: string, name: string, ...labels: ReadonlyArray<string>): number =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => labels.every((label) => l.includes(label)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0)

/** The `controller` label of config maps' metrics (`Resource.format`). */
const C = "configmaps/v1"

const labelled = { labelSelector: "kubefx.dev/test=operations" }
const labelledMap = (ns: string, name: string) => {
  const body = configMap(ns, name, { v: "1" })
  return { ...body, metadata: { ...body.metadata, labels: { "kubefx.dev/test": "operations" } } }
}

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })("Operations", (it) => {
  it.effect("/readyz turns ready only after the initial lists; unknown paths answer 404", () =>
    Effect.gen(function* () {
      const ns = yield* freshNamespace
      const { proxy, kube } = yield* faultyClient()
      const port = yield* Ports.free
      const url = `http://127.0.0.1:${port}`
      // Stalled: the API server gets the requests, the answers are held.
      yield* proxy.setMode("stall")
      const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
      const starting = yield* Effect.forkScoped(
        Operator.start(registry, {
          namespaces: [ns],
          health: { port, host: "127.0.0.1" }
        }).pipe(Effect.provideService(Kube, kube))
      )
      const before = yield* awaitStatus(`${url}/readyz`, 503)
      assert.include(before.body, "the first lists are not complete")
      assert.strictEqual((yield* get(`${url}/healthz`))?.status, 200)
      assert.strictEqual((yield* get(`${url}/nothing-here`))?.status, 404)
      yield* proxy.setMode("pass")
      const operator = yield* Fiber.join(starting)
      yield* operator.ready
      assert.strictEqual(operator.healthUrl, url)
      assert.strictEqual((yield* awaitStatus(`${url}/readyz`, 200)).body, "ok\n")
    })
  )

  it.effect("/healthz fails while a watch is stalled and recovers with it", () =>
    Effect.gen(function* () {
      const ns = yield* freshNamespace
      const { proxy, kube } = yield* faultyClient({ requestTimeout: "3 seconds" })
      const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
      const operator = yield* Operator.start(registry, {
        namespaces: [ns],
        health: { port: 0, host: "127.0.0.1" },
        watcher: { idleTimeout: "1500 millis" }
      }).pipe(Effect.provideService(Kube, kube))
      yield* operator.ready
      const url = operator.healthUrl!
      assert.strictEqual((yield* get(`${url}/healthz`))?.status, 200)
      yield* proxy.setMode("stall")
      const sick = yield* awaitStatus(`${url}/healthz`, 500)
      assert.include(sick.body, `watch configmaps in ${ns} failing for`)
      yield* proxy.setMode("pass")
      assert.strictEqual((yield* awaitStatus(`${url}/healthz`, 200)).body, "ok\n")
    })
  )

  it.effect("a scrape after handling objects shows the counters; the text passes promlint", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      let runs = 0
      const registry = Registry.make(
        Handler.onCreate("configmaps", { id: "count" }, () => Effect.sync(() => runs++))
      )
      // The operator's own registry: the test's requests are not counted in it.
      const operator = yield* Operator.start(registry, {
        namespaces: [ns],
        concurrency: 8,
        health: { port: 0, host: "127.0.0.1" },
        watcher: labelled
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
      yield* operator.ready
      const url = operator.healthUrl!
      // A scraper that sends half a request and never finishes must not hold anything up.
      const stuck = net.connect(Number(new URL(url).port), "127.0.0.1")
      stuck.write("GET /metrics HTTP/1.1\r\nHost: x\r\n")
      yield* Effect.addFinalizer(() => Effect.sync(() => stuck.destroy()))
      const n = 3
      for (let i = 0; i < n; i++) yield* kube.create(configMaps, labelledMap(ns, `m${i}`))
      const text = yield* eventually(
        Effect.flatMap(get(`${url}/metrics`), (res) => {
          const body = res?.body ?? ""
          const settled =
            runs === n &&
            sample(
              body,
              `kubefx_handler_runs_total{controller="${C}",handler="count",outcome="Success"}`
            ) === n &&
            sample(body, `workqueue_depth{name="${C}",controller="${C}"}`) === 0 &&
            sample(body, `controller_runtime_active_workers{controller="${C}"}`) === 0
          return settled ? Effect.succeed(body) : Effect.fail("not settled")
        })
      )
      const steps = total(text, "controller_runtime_reconcile_total", `controller="${C}"`)
      // Each object: at least the step that runs its handler.
      assert.isAtLeast(steps, n)
      assert.strictEqual(
        sample(text, `controller_runtime_reconcile_errors_total{controller="${C}"}`),
        0
      )
      assert.strictEqual(
        sample(text, `controller_runtime_reconcile_time_seconds_count{controller="${C}"}`),
        steps
      )
      assert.strictEqual(
        sample(text, `workqueue_work_duration_seconds_count{name="${C}",controller="${C}"}`),
        steps
      )
      assert.strictEqual(
        sample(text, `workqueue_queue_duration_seconds_count{name="${C}",controller="${C}"}`),
        steps
      )
      assert.isAtLeast(sample(text, `workqueue_adds_total{name="${C}",controller="${C}"}`), steps)
      assert.strictEqual(
        sample(text, `controller_runtime_max_concurrent_reconciles{controller="${C}"}`),
        8
      )
      assert.strictEqual(sample(text, `kubefx_objects{resource="${C}"}`), n)
      // One write per object: finalizer, handler result and last-handled state in one PATCH.
      const patches = total(text, "rest_client_requests_total", 'code="200"', 'method="PATCH"')
      assert.strictEqual(patches, n)
      assert.isAtLeast(total(text, "rest_client_requests_total", 'method="GET"'), 2)
      assert.strictEqual(
        total(text, "rest_client_request_duration_seconds_count", 'verb="PATCH"'),
        patches
      )
      assert.deepStrictEqual(Promlint.check(text), [])
    })
  )

  it.effect("a taken port fails the start with one clear line", () =>
    Effect.gen(function* () {
      const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
      const first = yield* Operator.start(registry, {
        namespaces: ["default"],
        health: { port: 0, host: "127.0.0.1" },
        watcher: labelled
      })
      const port = Number(new URL(first.healthUrl!).port)
      const second = yield* Operator.start(registry, {
        namespaces: ["default"],
        health: { port, host: "127.0.0.1" }
      }).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(second))
      const error = Exit.isFailure(second) ? String(second.cause) : ""
      assert.include(error, `health server: port ${port} on 127.0.0.1 is taken`)
    })
  )

  it.effect("JSON log lines parse and carry the object's and the trace's ids", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const lines: Array<string> = []
      const capture = Logger.layer([Logger.map(Logging.json, (line) => lines.push(line))])
      const registry = Registry.make(
        Handler.onCreate("configmaps", { id: "greet" }, () => Effect.logInfo("hello from greet"))
      )
      const operator = yield* Operator.start(registry, {
        namespaces: [ns],
        watcher: labelled
      }).pipe(Effect.provide(capture))
      yield* operator.ready
      const created = yield* kube.create(configMaps, labelledMap(ns, "j1"))
      const processed = yield* eventually(
        Effect.suspend(() => {
          const found = lines
            .map((line) => JSON.parse(line) as Record<string, unknown>)
            .find((o) => typeof o.message === "string" && o.message.startsWith("create processed"))
          return found === undefined ? Effect.fail("no processed line") : Effect.succeed(found)
        })
      )
      assert.strictEqual(processed.level, "info")
      assert.strictEqual(processed.namespace, ns)
      assert.strictEqual(processed.name, "j1")
      assert.strictEqual(processed.uid, created.metadata?.uid)
      assert.strictEqual(processed.resource, C)
      assert.match(String(processed.trace_id), /^[0-9a-f]{32}$/)
      assert.match(String(processed.span_id), /^[0-9a-f]{16}$/)
      assert.isString(processed.time)
      const run = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((o) => o.handler === "greet")
      assert.strictEqual(run?.trace_id, processed.trace_id)
    })
  )
})
