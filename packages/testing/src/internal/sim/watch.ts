/**
 * Watches of the simulated cluster as streams of raw watch events: from a version (replaying
 * the history) or from now, bookmarks every `bookmarkInterval`, the server's timeout, 410 for
 * a compacted version, and the faults of watches: injected expiry, dropped connections, and
 * silent (blackholed) watches, of which nothing reaches the client, not even their end.
 */
import type { Resource } from "@kubefx/core"
import {
  KubeError,
  type KubeService,
  Paths,
  type RawWatchEvent,
  type WatchOptions
} from "@kubefx/runtime"
import { Cause, Duration, Effect, Queue, Stream } from "effect"
import type * as Scope from "effect/Scope"
import * as ShardSelector from "../shardSelector.ts"
import * as Store from "../store.ts"
import { attempt, parseSelectors, shardSelector } from "./attempt.ts"
import * as Network from "./network.ts"

type Err = KubeError.KubeError
type Events = Queue.Queue<RawWatchEvent, Err | Cause.Done>

/** What watches need of the simulation. */
export interface Env {
  readonly store: Store.Store
  readonly network: Network.Network
  readonly bookmarkInterval: Duration.Duration
  readonly watchTimeout: Duration.Duration
  /** The `ShardedListAndWatch` feature gate. */
  readonly sharded: boolean
}

/** One watch request, as the server has it. */
interface Request {
  readonly req: KubeError.RequestInfo
  readonly resource: Resource.ApiResource
  readonly options: WatchOptions
  readonly events: Events
}

/** The ERROR event of an expired version (410), then the end of the watch. */
const expire = (events: Events, message: string) => {
  Queue.offerUnsafe(events, {
    type: "ERROR",
    object: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason: "Expired",
      code: 410
    }
  })
  Queue.endUnsafe(events)
}

/** An open watch, as the server keeps it. */
interface Session {
  readonly watch: Store.Watch
  /** Forgets it (the watch's scope ended). */
  readonly release: () => void
  readonly silent: () => boolean
  /** Lets its connection's close and the server's `dropWatches` cut it. */
  readonly register: () => void
  /** Its time is up: the server ends it (unless it is silent). */
  readonly timeUp: () => void
  readonly bookmark: () => void
}

/** The error of a watch connection cut (by the client's close or the server). */
const resetOf = (req: KubeError.RequestInfo) =>
  new KubeError.TransportError({
    ...req,
    code: "ECONNRESET",
    message: "the watch connection was reset"
  })

/** A BOOKMARK event at the current version. */
const bookmarkOf = (
  store: Store.Store,
  def: Store.Def,
  resource: Resource.ApiResource
): RawWatchEvent => ({
  type: "BOOKMARK",
  object: {
    kind: def.kind,
    apiVersion: Store.apiVersionOf(def.group, resource.version),
    metadata: { resourceVersion: store.currentVersion() }
  }
})

/**
 * An open watch: it delivers changes (unless silent), can be cut by its connection's close
 * or the server, and ends when its time is up. A silent watch (blackholed) stays open and
 * nothing of it reaches the client: no event, no bookmark, no end, no reset.
 */
const session = (
  env: Env,
  conn: Network.Conn,
  r: Request,
  def: Store.Def,
  match: (o: unknown) => boolean,
  silentFromStart: boolean,
  sent: number
): Session => {
  const { store, network } = env
  let open = true
  let silent = silentFromStart
  const quiet = () => {
    if (!silent && network.silenced(conn, sent)) silent = true
    return silent
  }
  const release = () => {
    open = false
    store.closeWatch(watch)
    conn.kills.delete(killer)
    network.cuts.delete(serverCut)
  }
  const kill = (error: Err | undefined) => {
    if (!open) return
    release()
    if (error === undefined) Queue.endUnsafe(r.events)
    else Queue.failCauseUnsafe(r.events, Cause.fail(error))
  }
  const reset = () => resetOf(r.req)
  const killer = () => kill(reset())
  const serverCut = () => {
    if (!quiet()) kill(reset())
  }
  const dropped = () => {
    const p = network.faults().dropWatch ?? 0
    return conn.faulty && p > 0 && network.chance(p)
  }
  const watch: Store.Watch = {
    def: def.key,
    namespace: def.namespaced ? r.options.namespace : undefined,
    match,
    deliver: (type, object) => {
      if (!open || quiet()) return
      if (dropped()) {
        network.note(`WATCH ${r.req.path} -> dropped (injected)`)
        return kill(reset())
      }
      Queue.offerUnsafe(r.events, { type, object: store.out(def, object, r.resource.version) })
    }
  }
  return {
    watch,
    release,
    silent: () => silent,
    register: () => {
      conn.kills.add(killer)
      network.cuts.add(serverCut)
    },
    timeUp: () => {
      if (!quiet()) kill(undefined)
    },
    bookmark: () => {
      if (open && !quiet()) Queue.offerUnsafe(r.events, bookmarkOf(store, def, r.resource))
    }
  }
}

/** The server's timeout of a watch, and its bookmarks, in the watch's scope. */
const clocks = (env: Env, r: Request, s: Session) =>
  Effect.gen(function* () {
    const timeout =
      r.options.timeoutSeconds !== undefined
        ? Duration.seconds(r.options.timeoutSeconds)
        : env.watchTimeout
    yield* Effect.forkScoped(Effect.sleep(timeout).pipe(Effect.andThen(Effect.sync(s.timeUp))))
    if (r.options.allowWatchBookmarks ?? true)
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.sleep(env.bookmarkInterval).pipe(Effect.andThen(Effect.sync(s.bookmark)))
        )
      )
  })

/** Opens a watch on the store (after the faults let it through) and keeps it. */
const open = (env: Env, conn: Network.Conn, r: Request): Effect.Effect<void, Err, Scope.Scope> =>
  Effect.gen(function* () {
    const { store, network } = env
    const what = `WATCH ${r.req.path}`
    const from = r.options.resourceVersion
    const sent = network.now()
    yield* Network.gate(network, conn, what, sent)
    const fault = network.draw(conn, r.req, "read", network.faults().blackholeWatch ?? 0)
    yield* Network.slowness(network, fault)
    yield* Network.gate(network, conn, what, sent)
    if (fault.error !== undefined) {
      network.note(`${what} -> ${fault.error._tag} (injected)`)
      return yield* Effect.fail(fault.error)
    }
    const match = yield* parseSelectors(r.req, r.options.labelSelector, r.options.fieldSelector)
    if (!fault.silent && conn.faulty && network.chance(network.faults().expireWatch ?? 0)) {
      network.note(`${what} -> 410 (injected)`)
      return expire(r.events, `too old resource version: ${from ?? ""} (injected)`)
    }
    const def = yield* attempt(() => store.resolve(r.req, r.resource))
    const shard = yield* attempt(() => shardSelector(r.req, env.sharded, r.options.shardSelector))
    const matching =
      shard === undefined ? match : (o: unknown) => match(o) && ShardSelector.matches(shard, o)
    const s = session(env, conn, r, def, matching, fault.silent, sent)
    const opened = yield* attempt(() => store.openWatch(r.req, r.resource, s.watch, from))
    if (opened._tag === "Expired") {
      network.note(`${what} -> 410`)
      return expire(r.events, `too old resource version: ${from ?? ""}`)
    }
    network.note(
      `${what} from ${from ?? "now"} -> ${s.silent() ? "silent (injected blackhole)" : "ok"}`
    )
    s.register()
    for (const c of opened.initial) store.deliver(s.watch, c)
    yield* Effect.addFinalizer(() => Effect.sync(s.release))
    yield* clocks(env, r, s)
  })

/** The `watch` of a client on a connection. */
export const make =
  (env: Env, conn: Network.Conn): KubeService["watch"] =>
  (resource, options = {}) =>
    Stream.callback<RawWatchEvent, Err>((events) =>
      open(env, conn, {
        req: {
          method: "GET",
          path: `${Paths.path(resource, { namespace: options.namespace })}?watch=true`
        },
        resource,
        options,
        events
      })
    )
