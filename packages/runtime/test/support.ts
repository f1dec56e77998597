import * as net from "node:net"
/**
 * Helpers of the integration tests: a Kube client on the shared control plane, a fresh
 * namespace per test (and a client bound to it), an operator started in the test's scope, and
 * a collector that lets a test wait for a stream's events.
 */
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, type Json, type KubeObject, type Registry, Resource } from "@kubefx/core"
import { KubeConfig } from "@kubernetes/client-node"
import { Duration, Effect, type Fiber, Layer, Logger, Queue, Schedule, Stream } from "effect"
import type * as Scope from "effect/Scope"
import {
  ApiPatch,
  Discovery,
  Kube,
  type KubeError,
  type KubeService,
  Operator,
  type Settings
} from "../src/index.ts"

/** The shared control plane and an admin Kube client on it. */
export const ClusterLayer = Layer.effect(
  Kube,
  Effect.gen(function* () {
    const cp = yield* ControlPlane.ControlPlane
    const kc = yield* Kube.loadFile(cp.kubeconfig)
    return yield* Kube.make(kc)
  })
).pipe(Layer.provideMerge(ControlPlane.layer))

export const namespaces = Builtins.namespaces
export const configMaps = Builtins.configMaps

let counter = 0

/** Creates a namespace for the rest of the test, deleted (without waiting) when it ends. */
export const scopedNamespace = (name: string): Effect.Effect<string, never, Kube | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    yield* Effect.acquireRelease(
      kube
        .create(namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name } })
        .pipe(Effect.orDie),
      () => kube.delete(namespaces, name).pipe(Effect.ignore)
    )
    return name
  })

/** Creates a fresh namespace for one test, deleted (without waiting) when the test ends. */
export const freshNamespace: Effect.Effect<string, never, Kube | Scope.Scope> = Effect.suspend(() =>
  scopedNamespace(`t-${process.pid}-${Date.now().toString(36)}-${counter++}`)
)

type Err = KubeError.KubeError

/** A request about one object of the namespace. */
type ByName<A> = (resource: Resource.ApiResource, name: string) => Effect.Effect<A, Err>

/** A client bound to one namespace: every request names it. */
export interface InNamespace {
  /** The namespace. */
  readonly name: string
  /** Creates an object in the namespace (its `metadata.namespace` set to it). */
  readonly create: (
    resource: Resource.ApiResource,
    body: KubeObject.KubeObject
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  readonly get: ByName<KubeObject.KubeObject>
  /** The object, or `undefined` once it is gone. */
  readonly read: ByName<KubeObject.KubeObject | undefined>
  /** A merge patch of the object. */
  readonly merge: (
    resource: Resource.ApiResource,
    name: string,
    body: Json.JsonObject
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  readonly replace: (
    resource: Resource.ApiResource,
    name: string,
    body: KubeObject.KubeObject
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  readonly delete: ByName<KubeObject.KubeObject>
  /** `type/reason` of the Events about an object of that name. */
  readonly events: (about: string) => Effect.Effect<ReadonlyArray<string>, Err>
}

/** A client of `kube` bound to the namespace `name`. */
export const inNamespace = (kube: KubeService, name: string): InNamespace => {
  const at = { namespace: name }
  return {
    name,
    create: (resource, body) =>
      kube.create(resource, { ...body, metadata: { ...body.metadata, namespace: name } }, at),
    get: (resource, object) => kube.get(resource, object, at),
    read: (resource, object) =>
      kube.get(resource, object, at).pipe(
        Effect.map((o): KubeObject.KubeObject | undefined => o),
        Effect.catchTag("NotFound", () => Effect.succeed(undefined))
      ),
    merge: (resource, object, body) => kube.patch(resource, object, ApiPatch.merge(body), at),
    replace: (resource, object, body) => kube.replace(resource, object, body, at),
    delete: (resource, object) => kube.delete(resource, object, at),
    events: (about) =>
      kube
        .list(Builtins.events, { ...at, fieldSelector: `involvedObject.name=${about}` })
        .pipe(Effect.map((l) => l.items.map((e) => `${String(e.type)}/${String(e.reason)}`)))
  }
}

/** A fresh namespace for one test and a client bound to it. */
export const freshClient: Effect.Effect<InNamespace, never, Kube | Scope.Scope> = Effect.gen(
  function* () {
    const kube = yield* Kube
    return inNamespace(kube, yield* freshNamespace)
  }
)

/**
 * Starts an operator for `registry` in the test's scope (on the `Kube` of the context: the
 * shared control plane unless the test provides another client) and waits until it is ready.
 */
export const withOperator = <R>(registry: Registry.Registry<R>, settings: Settings.Input = {}) =>
  Effect.gen(function* () {
    const op = yield* Operator.start(registry, settings)
    yield* op.ready
    return op
  })

/** A config map body. */
export const configMap = (
  namespace: string,
  name: string,
  data: Record<string, string> = {}
): KubeObject.KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace },
  data
})

export interface Collector<A> {
  /** Takes events until one matches, answering it and the ones skipped before it. */
  readonly next: (
    predicate: (a: A) => boolean,
    timeout?: Duration.Input
  ) => Effect.Effect<{ readonly found: A; readonly skipped: ReadonlyArray<A> }>
  /** Every event taken so far. */
  readonly seen: ReadonlyArray<A>
  /** The stream's failure, if it ended with one. */
  readonly fiber: Fiber.Fiber<void, unknown>
}

/** Runs a stream in the background of the test's scope; events queue up for `next`. */
export const collect = <A, E, R>(
  stream: Stream.Stream<A, E, R>
): Effect.Effect<Collector<A>, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<A>()
    const seen: Array<A> = []
    const fiber = yield* stream.pipe(
      Stream.runForEach((a) => Queue.offer(queue, a)),
      Effect.forkScoped
    )
    const next = (predicate: (a: A) => boolean, timeout: Duration.Input = "20 seconds") =>
      Effect.gen(function* () {
        const skipped: Array<A> = []
        for (;;) {
          const a = yield* Queue.take(queue)
          seen.push(a)
          if (predicate(a)) return { found: a, skipped }
          skipped.push(a)
        }
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.die(
              new Error(
                `no matching event within ${Duration.format(Duration.fromInputUnsafe(timeout))}; seen: ${JSON.stringify(seen.map(summary))}`
              )
            )
        })
      )
    return { next, seen, fiber: fiber as Fiber.Fiber<void, unknown> }
  })

/** `Tag name@rv` of a watch event, for messages. */
export const summary = (e: unknown): string => {
  if (typeof e !== "object" || e === null) return String(e)
  const ev = e as {
    _tag?: string
    type?: string
    object?: KubeObject.KubeObject
    objects?: unknown[]
  }
  const name = ev.object?.metadata?.name ?? ""
  const rv = ev.object?.metadata?.resourceVersion ?? ""
  return `${ev._tag ?? ev.type} ${name}@${rv}${ev.objects ? ` (${ev.objects.length})` : ""}`
}

/** Retries `effect` every 200ms for up to 30s (for eventually consistent things like CRDs). */
export const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "30 seconds" })))
  )

export const widgets = Resource.make({
  group: "kubefx.test",
  version: "v1",
  plural: "widgets",
  kind: "Widget"
})

const keepAll = { type: "object", "x-kubernetes-preserve-unknown-fields": true }

/** A namespaced CRD manifest (v1) for tests; spec and status keep every field unless given. */
export const crdManifest = (options: {
  readonly group: string
  readonly plural: string
  readonly kind: string
  readonly statusSubresource: boolean
  readonly shortNames?: ReadonlyArray<string>
  readonly spec?: Json.JsonObject
  readonly status?: Json.JsonObject
}): KubeObject.KubeObject => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `${options.plural}.${options.group}` },
  spec: {
    group: options.group,
    scope: "Namespaced",
    names: {
      plural: options.plural,
      singular: options.kind.toLowerCase(),
      kind: options.kind,
      ...(options.shortNames === undefined ? {} : { shortNames: options.shortNames })
    },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        ...(options.statusSubresource ? { subresources: { status: {} } } : {}),
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: { spec: options.spec ?? keepAll, status: options.status ?? keepAll }
          }
        }
      }
    ]
  }
})

const widgetCrd = crdManifest({
  group: "kubefx.test",
  plural: "widgets",
  kind: "Widget",
  statusSubresource: true,
  shortNames: ["wd"],
  spec: { type: "object", properties: { size: { type: "integer", minimum: 0 } } },
  status: { type: "object", properties: { phase: { type: "string" } } }
})

export const crds = Resource.make({
  group: "apiextensions.k8s.io",
  version: "v1",
  plural: "customresourcedefinitions",
  kind: "CustomResourceDefinition",
  namespaced: false
})

/** Installs the Widget CRD once and waits until discovery serves it. */
export const ensureWidgets = Effect.gen(function* () {
  const kube = yield* Kube
  yield* kube.create(crds, widgetCrd).pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
  const found = yield* eventually(
    Discovery.find(kube, { group: "kubefx.test", version: "v1", kind: "Widget" })
  )
  return found.resource
})

/** A TCP proxy to `target` whose connections can all be cut at once. */
export const tcpProxy = (target: URL) =>
  Effect.acquireRelease(
    Effect.callback<{
      readonly url: string
      readonly server: net.Server
      readonly dropAll: () => void
      readonly connections: () => number
    }>((resume) => {
      const sockets = new Set<net.Socket>()
      let count = 0
      const server = net.createServer((client) => {
        count++
        const upstream = net.connect(Number(target.port), target.hostname)
        for (const s of [client, upstream]) {
          sockets.add(s)
          s.on("close", () => sockets.delete(s))
          s.on("error", () => {})
        }
        client.pipe(upstream).pipe(client)
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => client.destroy())
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as net.AddressInfo
        resume(
          Effect.succeed({
            url: `https://127.0.0.1:${port}`,
            server,
            dropAll: () => {
              for (const s of sockets) s.resetAndDestroy()
            },
            connections: () => count
          })
        )
      })
    }),
    (proxy) =>
      Effect.sync(() => {
        proxy.dropAll()
        proxy.server.close()
      })
  )

/** A client of the shared control plane through a {@link tcpProxy}, whose connections the
 * test can cut. */
export const proxiedClient = Effect.gen(function* () {
  const cp = yield* ControlPlane.ControlPlane
  const proxy = yield* tcpProxy(new URL(cp.server))
  const kc = yield* Kube.loadFile(cp.kubeconfig)
  const proxied = new KubeConfig()
  proxied.loadFromClusterAndUser(
    { ...kc.getCurrentCluster()!, server: proxy.url },
    kc.getCurrentUser()!
  )
  return { proxy, kube: yield* Kube.make(proxied) }
})

/** Log lines (`LEVEL message`) of the effects it is provided to, kept for assertions. */
export const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push(`${logLevel.toUpperCase()} ${text}`)
  })
  return { lines, layer: Logger.layer([logger], { mergeWithExisting: true }) }
}

/** Waits (polling every 100 ms, at most `seconds`) until a captured line matches. */
export const awaitLine = (lines: ReadonlyArray<string>, pattern: RegExp, seconds = 30) =>
  Effect.gen(function* () {
    for (let i = 0; i < seconds * 10; i++) {
      const line = lines.find((l) => pattern.test(l))
      if (line !== undefined) return line
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(
      new Error(`no log line matching ${pattern} within ${seconds}s; got:\n${lines.join("\n")}`)
    )
  })
