/**
 * What leader election and sharding share: `coordination.k8s.io/v1` Lease objects read and
 * written with optimistic concurrency (a replace carries the resourceVersion it was decided
 * on), the replica's local clock, and the fence: a replica may act on the cluster only until
 * `Fence.until`, which every successful renewal moves to `sent + renewDeadline` (see the core's
 * `Lease` module for why that is earlier than anyone can see the lease expire). The
 * {@link fenced} client refuses writes past it, so a replica that lost its lease cannot write
 * even if a handler lingers.
 *
 * @internal
 */
import { Builtins, type KubeObject, Lease } from "@kubefx/core"
import { Clock, Duration, Effect, Option } from "effect"
import type { KubeService } from "../Kube.ts"
import * as KubeError from "../KubeError.ts"

/** Where a Lease lives. @internal */
export interface Ref {
  readonly namespace: string
  readonly name: string
}

/** `namespace/name`, for messages. @internal */
export const describe = (ref: Ref): string => `${ref.namespace}/${ref.name}`

/** Local time in milliseconds, on the monotonic clock (the observation clock). @internal */
export const localMillis: Effect.Effect<number> = Clock.clockWith((clock) =>
  Effect.succeed(Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n))
)

/** A replica's fence: it may act until `until` (local milliseconds). @internal */
export interface Fence {
  until: number
}

/** A closed fence. @internal */
export const closed = (): Fence => ({ until: Number.NEGATIVE_INFINITY })

/** The object of a Lease with `record`, keeping the rest of `base`'s metadata. @internal */
export const object = (
  ref: Ref,
  record: Lease.LeaseRecord,
  base?: KubeObject.KubeObject,
  annotations?: Readonly<Record<string, string>>,
  labels?: Readonly<Record<string, string>>
): KubeObject.KubeObject => {
  const metadata = base?.metadata ?? {}
  const mergedAnnotations = { ...metadata.annotations, ...annotations }
  const mergedLabels = { ...metadata.labels, ...labels }
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      ...metadata,
      name: ref.name,
      namespace: ref.namespace,
      ...(Object.keys(mergedLabels).length === 0 ? {} : { labels: mergedLabels }),
      ...(Object.keys(mergedAnnotations).length === 0 ? {} : { annotations: mergedAnnotations })
    },
    spec: Lease.spec(record)
  }
}

/** The Lease, or `None` when it does not exist. @internal */
export const get = (kube: KubeService, ref: Ref) =>
  kube.get(Builtins.leases, ref.name, { namespace: ref.namespace }).pipe(
    Effect.map(Option.some),
    Effect.catchTag("NotFound", () => Effect.succeed(Option.none<KubeObject.KubeObject>()))
  )

/** Creates the Lease (fails with AlreadyExists when someone was faster). @internal */
export const create = (kube: KubeService, lease: KubeObject.KubeObject) =>
  kube.create(Builtins.leases, lease, { namespace: lease.metadata?.namespace })

/** Replaces the Lease, guarded by `lease`'s resourceVersion (Conflict when it changed). @internal */
export const replace = (kube: KubeService, lease: KubeObject.KubeObject) =>
  kube.replace(Builtins.leases, lease.metadata?.name ?? "", lease, {
    namespace: lease.metadata?.namespace
  })

/** Deletes the Lease if it is still at `lease`'s resourceVersion. @internal */
export const remove = (kube: KubeService, lease: KubeObject.KubeObject) =>
  kube
    .delete(Builtins.leases, lease.metadata?.name ?? "", {
      namespace: lease.metadata?.namespace,
      preconditions: {
        ...(lease.metadata?.uid === undefined ? {} : { uid: lease.metadata.uid }),
        ...(lease.metadata?.resourceVersion === undefined
          ? {}
          : { resourceVersion: lease.metadata.resourceVersion })
      }
    })
    .pipe(Effect.asVoid)

/** The resourceVersion of a Lease (`""` for none). @internal */
export const versionOf = (lease: Option.Option<KubeObject.KubeObject>): string =>
  Option.match(lease, {
    onNone: () => "",
    onSome: (l) => l.metadata?.resourceVersion ?? ""
  })

/** A request of a lease round, abandoned after `within` (counted as a failed try). @internal */
export const within = <A>(
  effect: Effect.Effect<A, KubeError.KubeError>,
  millis: number,
  what: string
): Effect.Effect<A, KubeError.KubeError> =>
  Effect.timeoutOrElse(effect, {
    duration: Duration.millis(Math.max(1, millis)),
    orElse: () =>
      Effect.fail(
        new KubeError.TransportError({
          method: "PUT",
          path: what,
          code: "LEASE_TIMEOUT",
          message: `no answer within ${Duration.format(Duration.millis(Math.max(1, millis)))}`
        })
      )
  })

/** One line for a failed lease request. @internal */
export const reason = (e: KubeError.KubeError): string =>
  `${e._tag}${"message" in e && e.message !== "" ? `: ${e.message}` : ""}`

const writes = new Set(["POST", "PUT", "PATCH", "DELETE"])

/**
 * `kube` whose writes are refused (a `TransportError` with code `FENCED`, nothing sent) once
 * `fence.until` has passed on the local clock; reads pass.
 *
 * @internal
 */
export const fenced = (kube: KubeService, fence: Fence, what: string): Effect.Effect<KubeService> =>
  Effect.clockWith((clock) => {
    const open = () => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n) < fence.until
    const refuse = (method: string, path: string) =>
      Effect.fail(
        new KubeError.TransportError({
          method,
          path,
          code: "FENCED",
          message: `not sent: this replica no longer holds ${what}`
        })
      )
    const guard =
      <Args extends ReadonlyArray<unknown>, A>(
        method: string,
        call: (...args: Args) => Effect.Effect<A, KubeError.KubeError>
      ) =>
      (...args: Args): Effect.Effect<A, KubeError.KubeError> =>
        Effect.suspend(() => (open() ? call(...args) : refuse(method, String(args[1] ?? ""))))
    return Effect.succeed({
      ...kube,
      create: guard("POST", kube.create),
      replace: guard("PUT", kube.replace),
      patch: guard("PATCH", kube.patch),
      delete: guard("DELETE", kube.delete),
      patchStatus: guard("PATCH", kube.patchStatus),
      replaceStatus: guard("PUT", kube.replaceStatus),
      request: (r) =>
        Effect.suspend(() =>
          writes.has(r.method) && !open() ? refuse(r.method, r.path) : kube.request(r)
        )
    } satisfies KubeService)
  })

/** How soon a serving must stop when it is interrupted: `undefined` for its own shutdown
 * timeout (a graceful stop); set when the lease was lost and the handlers must end before it
 * can expire. @internal */
export interface StopWithin {
  millis: number | undefined
}
