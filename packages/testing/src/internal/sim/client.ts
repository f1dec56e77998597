/**
 * A client of the simulated cluster: the runtime's `KubeService` on a connection, each
 * request passing the connection's gates and drawing its faults (`network.ts`), then run on
 * the store, retried by the real client's `RequestPolicy` when the connection retries.
 */
import type { KubeObject, Resource } from "@kubefx/core"
import {
  KubeError,
  type KubeService,
  Paging,
  Paths,
  type RequestPolicy,
  type WriteOptions
} from "@kubefx/runtime"
import { Clock, type Duration, Effect } from "effect"
import * as ShardSelector from "../shardSelector.ts"
import * as Store from "../store.ts"
import { attempt, notServed, parseSelectors, shardSelector } from "./attempt.ts"
import * as Discovery from "./discovery.ts"
import * as Network from "./network.ts"
import type { Pages } from "./pages.ts"
import * as Watch from "./watch.ts"
import type * as Webhooks from "./webhooks.ts"

type Err = KubeError.KubeError
type ApiResource = Resource.ApiResource
type Req = KubeError.RequestInfo

/** What clients need of the simulation. */
export interface Env {
  readonly store: Store.Store
  readonly network: Network.Network
  readonly pages: Pages
  readonly policy: RequestPolicy.RequestPolicy
  readonly bookmarkInterval: Duration.Duration
  readonly watchTimeout: Duration.Duration
  readonly webhooks: Webhooks.Webhooks
  /** The `ShardedListAndWatch` feature gate: lists and watches honour `shardSelector`. */
  readonly sharded: boolean
}

/** One request on a connection: faults first, then `run` on the store at the current time. */
const call = <A>(
  env: Env,
  conn: Network.Conn,
  req: Req,
  kind: Network.Kind,
  idempotent: boolean,
  run: (now: number) => A
): Effect.Effect<A, Err> => {
  const { network } = env
  const what = `${req.method} ${req.path}`
  const logged = (outcome: string) =>
    Effect.sync(() => conn.faulty && network.note(`${what} -> ${outcome}`))
  const once = Effect.gen(function* () {
    const sent = network.now()
    yield* Network.gate(network, conn, what, sent)
    const fault = network.draw(conn, req, kind, network.faults().blackhole ?? 0)
    if (fault.silent) return yield* Network.silence(network, what, "injected blackhole")
    yield* Network.slowness(network, fault)
    yield* Network.gate(network, conn, what, sent)
    if (fault.error !== undefined) {
      yield* logged(`${fault.error._tag} (injected)`)
      return yield* Effect.fail(fault.error)
    }
    const now = yield* Clock.currentTimeMillis
    const ran =
      kind === "read"
        ? attempt(() => run(now))
        : env.webhooks.admitted(env.store, req, () => run(now))
    return yield* ran.pipe(
      Effect.tapError((e) => logged(e._tag)),
      Effect.tap(() => logged("ok"))
    )
  })
  return conn.retried ? env.policy.send(req, idempotent, once) : once
}

const expiredContinue = (req: Req) =>
  new Store.Fail(
    new KubeError.Expired({
      ...req,
      status: 410,
      reason: "Expired",
      message:
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
    })
  )

/** `PUT` of an object or its `/status`. */
const put = (
  env: Env,
  conn: Network.Conn,
  resource: ApiResource,
  name: string,
  body: KubeObject.KubeObject,
  o: WriteOptions | undefined,
  subresource: string | undefined
) => {
  const namespace = o?.namespace ?? body.metadata?.namespace
  const at = { namespace, name, ...(subresource === undefined ? {} : { subresource }) }
  const req = { method: "PUT", path: Paths.path(resource, at) }
  return call(env, conn, req, "write", true, () =>
    env.store.replace(req, resource, name, body, namespace, subresource, o?.dryRun === true)
  )
}

/** The reads of a client. */
const reads = (
  env: Env,
  conn: Network.Conn
): Pick<KubeService, "list" | "listAll" | "watch" | "get" | "getStatus" | "request"> => {
  const { store } = env
  const list: KubeService["list"] = (resource, o = {}) => {
    const req = { method: "GET", path: Paths.path(resource, { namespace: o.namespace }) }
    return Effect.flatMap(parseSelectors(req, o.labelSelector, o.fieldSelector), (match) =>
      call(env, conn, req, "read", true, () => {
        const def = store.resolve(req, resource)
        const shard = shardSelector(req, env.sharded, o.shardSelector)
        // Lists of built-in types say what they were filtered by; lists of custom resources
        // (unstructured) do not, in v1.36.
        const echo = shard === undefined || def.custom ? {} : { shard: ShardSelector.format(shard) }
        if (o.continue === undefined) {
          const all = store.list(
            req,
            resource,
            o.namespace,
            shard === undefined ? match : (x) => match(x) && ShardSelector.matches(shard, x)
          )
          return { ...env.pages.slice(all.items, all.resourceVersion, o.limit), ...echo }
        }
        const page = env.pages.take(o.continue)
        if (page === undefined) throw expiredContinue(req)
        return { ...env.pages.slice(page.items, page.resourceVersion, o.limit), ...echo }
      })
    )
  }
  const get = (
    resource: ApiResource,
    name: string,
    namespace: string | undefined,
    subresource?: "status"
  ) => {
    const at = { namespace, name, ...(subresource === undefined ? {} : { subresource }) }
    const req = { method: "GET", path: Paths.path(resource, at) }
    return call(env, conn, req, "read", true, () => {
      if (subresource !== undefined && !store.resolve(req, resource).status) throw notServed(req)
      return store.get(req, resource, name, namespace)
    })
  }
  return {
    list,
    listAll: (resource, o = {}) => Paging.listAll((page) => list(resource, { ...o, ...page }), o),
    watch: Watch.make(env, conn),
    get: (resource, name, o = {}) => get(resource, name, o.namespace),
    getStatus: (resource, name, o = {}) => get(resource, name, o.namespace, "status"),
    request: (r) => {
      const req = { method: r.method, path: r.path }
      return call(env, conn, req, r.method === "GET" ? "read" : "write", r.method !== "POST", () =>
        Discovery.answer(store, req)
      )
    }
  }
}

/** A client of the simulation on a connection. */
export const make = (env: Env, conn: Network.Conn): KubeService => {
  const { store } = env
  const patch: KubeService["patch"] = (resource, name, p, o) => {
    const at = {
      namespace: o?.namespace,
      name,
      ...(o?.subresource === undefined ? {} : { subresource: o.subresource })
    }
    const req = { method: "PATCH", path: Paths.path(resource, at) }
    return call(env, conn, req, "write", p._tag !== "Json", (now) =>
      store.patch(req, resource, name, p, o?.namespace, o?.subresource, now, o?.dryRun === true)
    )
  }
  return {
    server: "https://kubefx-sim.invalid",
    ...reads(env, conn),
    create: (resource, body, o) => {
      const namespace = o?.namespace ?? body.metadata?.namespace
      const req = { method: "POST", path: Paths.path(resource, { namespace }) }
      return call(env, conn, req, "create", false, (now) =>
        store.create(req, resource, body, namespace, now, o?.dryRun === true)
      )
    },
    replace: (resource, name, body, o) => put(env, conn, resource, name, body, o, undefined),
    patch,
    delete: (resource, name, o = {}) => {
      const req = {
        method: "DELETE",
        path: Paths.path(resource, { namespace: o.namespace, name })
      }
      return call(env, conn, req, "write", true, (now) =>
        store.remove(req, resource, name, o.namespace, o, now)
      )
    },
    patchStatus: (resource, name, p, o) =>
      patch(resource, name, p, { ...o, subresource: "status" }),
    replaceStatus: (resource, name, body, o) => put(env, conn, resource, name, body, o, "status")
  }
}
