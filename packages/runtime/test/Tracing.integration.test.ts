import * as http from "node:http"
import * as net from "node:net"
import { assert, layer } from "@effect/vitest"
import { Handler, Registry } from "@kubefx/core"
import { ConfigProvider, Effect, Metric } from "effect"
import { Kube, Operator } from "../src/index.ts"
import { ClusterLayer, configMap, configMaps, eventually, freshNamespace } from "./support.ts"

/** An OTLP attribute: `{ key, value: { stringValue | intValue | doubleValue | boolValue } }`. */
interface KeyValue {
  readonly key: string
  readonly value: Readonly<Record<string, unknown>>
}

/** A received span, its attributes as plain values, and its resource's. */
interface Received {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
  readonly attributes: Readonly<Record<string, unknown>>
  readonly resource: Readonly<Record<string, unknown>>
}

const plain = (kvs: ReadonlyArray<KeyValue>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const { key, value } of kvs) {
    const v = value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue
    out[key] = "intValue" in value ? Number(v) : v
  }
  return out
}

interface Body {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<KeyValue> }
    readonly scopeSpans: ReadonlyArray<{
      readonly spans: ReadonlyArray<
        Omit<Received, "attributes" | "resource"> & {
          readonly attributes: ReadonlyArray<KeyValue>
        }
      >
    }>
  }>
}

/** An OTLP/HTTP receiver on loopback: decodes each JSON export request into `spans`. */
const receiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly url: string; readonly spans: Array<Received>; server: http.Server }>(
        (resolve) => {
          const spans: Array<Received> = []
          const server = http.createServer((req, res) => {
            const chunks: Array<Buffer> = []
            req.on("data", (c: Buffer) => chunks.push(c))
            req.on("end", () => {
              const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Body
              for (const rs of body.resourceSpans)
                for (const ss of rs.scopeSpans)
                  for (const span of ss.spans)
                    spans.push({
                      ...span,
                      attributes: plain(span.attributes),
                      resource: plain(rs.resource.attributes)
                    })
              res.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo
            resolve({ url: `http://127.0.0.1:${port}`, spans, server })
          })
        }
      )
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
)

/** A TCP server that accepts connections and never answers. */
const blackhole = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly url: string; server: net.Server; sockets: Set<net.Socket> }>(
        (resolve) => {
          const sockets = new Set<net.Socket>()
          const server = net.createServer((socket) => {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
          })
          server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo
            resolve({ url: `http://127.0.0.1:${port}`, server, sockets })
          })
        }
      )
  ),
  ({ server, sockets }) =>
    Effect.promise(() => {
      for (const s of sockets) s.destroy()
      return new Promise<void>((r) => server.close(() => r()))
    })
)

/** An HTTP server that answers every request 500; counts them. */
const failing = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly url: string; server: http.Server; requests: () => number }>(
        (resolve) => {
          let n = 0
          const server = http.createServer((req, res) => {
            n++
            req.resume()
            res.writeHead(500).end("no")
          })
          server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo
            resolve({ url: `http://127.0.0.1:${port}`, server, requests: () => n })
          })
        }
      )
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
)

/** A port nothing listens on (listened on once, then released): connections are refused. */
const refused = Effect.promise(
  () =>
    new Promise<{ readonly url: string }>((resolve) => {
      const server = net.createServer()
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as net.AddressInfo
        server.close(() => resolve({ url: `http://127.0.0.1:${port}` }))
      })
    })
)

/** The `OTEL_*` environment of an operator, as its ConfigProvider. */
const otel = (env: Readonly<Record<string, string>>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env))

const labels = { "kubefx.dev/test": "tracing" }
const labelled = { labelSelector: "kubefx.dev/test=tracing" }
const labelledMap = (ns: string, name: string) => {
  const body = configMap(ns, name, { v: "1" })
  return { ...body, metadata: { ...body.metadata, labels } }
}

/** The value of one series in Prometheus text; 0 when absent. */
const sample = (text: string, series: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

const metrics = (url: string) =>
  Effect.promise(() => fetch(`${url}/metrics`).then((res) => res.text()))

const C = "configmaps/v1"
const succeeded = `kubefx_handler_runs_total{controller="${C}",handler="count",outcome="Success"}`

/**
 * An operator exporting to `collector` with tiny bounds; objects created in two rounds. Each
 * round's handlers all succeed, and the drop counter grows in each, while the queue never
 * holds more than its bound.
 */
const survivesDeadCollector = (collector: { readonly url: string }) =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const ns = yield* freshNamespace
    let runs = 0
    const registry = Registry.make(
      Handler.onCreate("configmaps", { id: "count" }, () =>
        Effect.sync(() => runs++).pipe(Effect.withSpan("count.work"))
      )
    )
    const maxQueue = 4
    const operator = yield* Operator.start(registry, {
      namespaces: [ns],
      health: { port: 0, host: "127.0.0.1" },
      watcher: labelled
    }).pipe(
      otel({
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_BSP_MAX_QUEUE_SIZE: String(maxQueue),
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "2",
        OTEL_BSP_SCHEDULE_DELAY: "50",
        OTEL_EXPORTER_OTLP_TIMEOUT: "300"
      }),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
    yield* operator.ready
    const url = operator.healthUrl!
    const round = (first: number, n: number, droppedBefore: number) =>
      Effect.gen(function* () {
        for (let i = first; i < first + n; i++)
          yield* kube.create(configMaps, labelledMap(ns, `d${i}`))
        return yield* eventually(
          Effect.flatMap(metrics(url), (text) => {
            const dropped = sample(text, "kubefx_spans_dropped_total")
            const done = runs === first + n && sample(text, succeeded) === first + n
            return done && dropped > droppedBefore
              ? Effect.succeed({ text, dropped })
              : Effect.fail(`runs ${runs}, dropped ${dropped}`)
          })
        )
      })
    const one = yield* round(0, 3, 0)
    const two = yield* round(3, 3, one.dropped)
    for (const { text } of [one, two]) {
      assert.isAtMost(sample(text, "kubefx_spans_queued"), maxQueue)
      assert.strictEqual(
        sample(
          text,
          `kubefx_handler_runs_total{controller="${C}",handler="count",outcome="Retry"}`
        ),
        0
      )
    }
    assert.isAbove(two.dropped, one.dropped)
    yield* operator.stop
  })

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })("Tracing", (it) => {
  it.effect("an OTLP/HTTP receiver gets the span tree of one reconciliation", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const otlp = yield* receiver
      const registry = Registry.make(
        Handler.onCreate("configmaps", { id: "traced" }, (ctx) =>
          Effect.gen(function* () {
            const client = yield* Kube
            yield* client.get(configMaps, ctx.name, { namespace: ctx.namespace })
          }).pipe(Effect.orDie, Effect.withSpan("traced.work"))
        )
      )
      const operator = yield* Operator.start(registry, {
        namespaces: [ns],
        watcher: labelled
      }).pipe(
        otel({
          OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
          OTEL_SERVICE_NAME: "tracing-test",
          OTEL_RESOURCE_ATTRIBUTES: "k8s.namespace.name=kubefx,team=ops%20a",
          OTEL_BSP_SCHEDULE_DELAY: "100"
        })
      )
      yield* operator.ready
      const created = yield* kube.create(configMaps, labelledMap(ns, "t1"))
      const uid = created.metadata?.uid
      const path = `/api/v1/namespaces/${ns}/configmaps/t1`
      const byId = (id: string | undefined) => otlp.spans.find((s) => s.spanId === id)
      /** The request attempt under `parent`. */
      const attempt = (method: string, parent: Received | undefined) =>
        otlp.spans.find((s) => s.name === method && s.parentSpanId === parent?.spanId)
      // The handler's run, its reconcile step, and the step's PATCH, all exported.
      const tree = yield* eventually(
        Effect.suspend(() => {
          const handler = otlp.spans.find(
            (s) => s.name === "kubefx.handler" && s.attributes["kubefx.handler"] === "traced"
          )
          const reconcile = byId(handler?.parentSpanId)
          const patch = attempt("PATCH", reconcile)
          return handler && reconcile && patch
            ? Effect.succeed({ handler, reconcile, patch })
            : Effect.fail("not yet exported")
        })
      )
      const { handler, reconcile, patch } = tree
      assert.strictEqual(reconcile.name, "kubefx.reconcile")
      assert.deepInclude(reconcile.attributes, {
        "kubefx.resource": C,
        "kubefx.namespace": ns,
        "kubefx.name": "t1",
        "kubefx.uid": uid,
        "kubefx.item": "Applied",
        "kubefx.cause": "create",
        "kubefx.attempt": 0
      })
      assert.isAtLeast(reconcile.attributes["kubefx.queue.wait_ms"] as number, 0)
      assert.deepInclude(handler.attributes, { "kubefx.outcome": "Success", "kubefx.retry": 0 })
      const work = otlp.spans.find((s) => s.name === "traced.work")
      assert.strictEqual(work?.parentSpanId, handler.spanId)
      const get = attempt("GET", work)
      for (const [span, method] of [
        [get, "GET"],
        [patch, "PATCH"]
      ] as const) {
        assert.strictEqual(span?.kind, 3) // client
        assert.deepInclude(span?.attributes, {
          "http.request.method": method,
          "url.path": path,
          "http.response.status_code": 200,
          "server.address": new URL(kube.server).hostname
        })
      }
      for (const span of [handler, work, get, patch])
        assert.strictEqual(span?.traceId, reconcile.traceId)
      assert.deepInclude(reconcile.resource, {
        "service.name": "tracing-test",
        "k8s.namespace.name": "kubefx",
        team: "ops a"
      })
      yield* operator.stop
    })
  )

  it.effect("a collector that never answers: handlers succeed, spans are dropped and counted", () =>
    Effect.flatMap(blackhole, survivesDeadCollector)
  )

  it.effect("a collector that answers 500: handlers succeed, spans are dropped and counted", () =>
    Effect.gen(function* () {
      const collector = yield* failing
      yield* survivesDeadCollector(collector)
      assert.isAbove(collector.requests(), 0)
    })
  )

  it.effect("a refused collector: handlers succeed, spans are dropped and counted", () =>
    Effect.flatMap(refused, survivesDeadCollector)
  )

  it.effect("without OTEL_* variables nothing is exported", () =>
    Effect.gen(function* () {
      const ns = yield* freshNamespace
      const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
      const operator = yield* Operator.start(registry, {
        namespaces: [ns],
        health: { port: 0, host: "127.0.0.1" },
        watcher: labelled
      }).pipe(otel({}), Effect.provideService(Metric.MetricRegistry, new Map()))
      yield* operator.ready
      const text = yield* metrics(operator.healthUrl!)
      assert.notInclude(text, "kubefx_spans_queued ")
      yield* operator.stop
    })
  )
})
