/**
 * The Kube client: generic, unstructured access to any resource of a Kubernetes API server, as
 * an Effect service. This module holds its interface, the options of its requests, and the
 * {@link Kube} service with its layers; where a client comes from (kubeconfig files, the pod's
 * service account) is {@link Config}, how its requests are timed and retried is
 * {@link RequestPolicy}, and every answer maps onto the typed errors of {@link KubeError}.
 *
 * @since 0.1.0
 */
import type { Activity, KubeObject, Resource } from "@kubefx/core"
import type { KubeConfig } from "@kubernetes/client-node"
import { Context, type Effect, Layer, type Stream } from "effect"
import type * as Activities from "./Activities.ts"
import type * as ApiPatch from "./ApiPatch.ts"
import * as Config from "./Config.ts"
import type * as KubeError from "./KubeError.ts"

type ApiResource = Resource.ApiResource
type Err = KubeError.KubeError

/**
 * A list answer: items and the list's `metadata.resourceVersion` / `continue` token.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectList {
  readonly items: ReadonlyArray<KubeObject.KubeObject>
  /** The resourceVersion of the list, an opaque string. */
  readonly resourceVersion: string
  /** Token for the next page; `undefined` on the last page. */
  readonly continue: string | undefined
  /** The shard selector the server applied (`metadata.shardInfo.selector`), when it says so:
   * lists of built-in resources do; lists of custom resources do not (kube-apiserver v1.36),
   * though the server filters them too. */
  readonly shard?: string | undefined
}

/**
 * Options of a list request (one page).
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  /** Namespace to list in; omit for all namespaces (or for cluster-scoped resources). */
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
  /** Page size. */
  readonly limit?: number | undefined
  /** Continue token from the previous page. */
  readonly continue?: string | undefined
  readonly resourceVersion?: string | undefined
  readonly resourceVersionMatch?: string | undefined
  /** Only the objects whose hash falls in these ranges (`shardSelector`, KEP-5866; see the
   * core's `Shard.selector`). A server without the `ShardedListAndWatch` gate ignores it. */
  readonly shardSelector?: string | undefined
}

/**
 * Options of a watch request.
 *
 * @since 0.1.0
 * @category models
 */
export interface WatchOptions {
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
  /** Start after this resourceVersion (opaque). */
  readonly resourceVersion?: string | undefined
  /** Ask for BOOKMARK events (default true). */
  readonly allowWatchBookmarks?: boolean | undefined
  /** Server-side timeout: the server ends the watch after that many seconds. */
  readonly timeoutSeconds?: number | undefined
  /** Called when the server accepts the watch (its response headers arrived): a sign of life
   * for health checks before any event comes. */
  readonly onOpen?: (() => void) | undefined
  /** As {@link ListOptions.shardSelector}. */
  readonly shardSelector?: string | undefined
}

/**
 * Options of writes (create, replace, patch).
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteOptions {
  /** Defaults to `metadata.namespace` of the body for create and replace. */
  readonly namespace?: string | undefined
  readonly fieldManager?: string | undefined
  readonly dryRun?: boolean | undefined
}

/**
 * Options of a delete.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeleteOptions {
  readonly namespace?: string | undefined
  readonly propagationPolicy?: "Orphan" | "Background" | "Foreground" | undefined
  readonly gracePeriodSeconds?: number | undefined
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string } | undefined
  readonly dryRun?: boolean | undefined
}

/**
 * One event of a raw watch, as the server sent it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawWatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"
  /** The object; for ERROR a `Status` object (with `code`, `reason`, `message`). */
  readonly object: KubeObject.KubeObject
}

/**
 * A raw request for what the typed operations do not cover.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  /** Path and query, e.g. `/version`. */
  readonly path: string
  readonly body?: unknown
  readonly contentType?: string | undefined
}

/**
 * The client's interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeService {
  /** The API server's URL, e.g. `https://127.0.0.1:6443`. */
  readonly server: string
  /** Lists one page. */
  readonly list: (resource: ApiResource, options?: ListOptions) => Effect.Effect<ObjectList, Err>
  /** Lists every page (`limit` is the page size, default 500; see {@link Paging.listAll}); an
   * expired continue token restarts the list. The result has the resourceVersion of the first
   * page. */
  readonly listAll: (
    resource: ApiResource,
    options?: Omit<ListOptions, "continue">
  ) => Effect.Effect<ObjectList, Err>
  /** One watch request: events until the server ends it (a stream that then completes). */
  readonly watch: (
    resource: ApiResource,
    options?: WatchOptions
  ) => Stream.Stream<RawWatchEvent, Err>
  readonly get: (
    resource: ApiResource,
    name: string,
    options?: { readonly namespace?: string | undefined }
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  readonly create: (
    resource: ApiResource,
    body: KubeObject.KubeObject,
    options?: WriteOptions
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  /** PUT: replaces the whole object; a stale `metadata.resourceVersion` fails with Conflict. */
  readonly replace: (
    resource: ApiResource,
    name: string,
    body: KubeObject.KubeObject,
    options?: WriteOptions
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  readonly patch: (
    resource: ApiResource,
    name: string,
    patch: ApiPatch.Patch,
    options?: WriteOptions & { readonly subresource?: string | undefined }
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  /** Answers the object (with a deletionTimestamp when finalizers hold it) or a Status. */
  readonly delete: (
    resource: ApiResource,
    name: string,
    options?: DeleteOptions
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  readonly getStatus: (
    resource: ApiResource,
    name: string,
    options?: { readonly namespace?: string | undefined }
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  readonly patchStatus: (
    resource: ApiResource,
    name: string,
    patch: ApiPatch.Patch,
    options?: WriteOptions
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  readonly replaceStatus: (
    resource: ApiResource,
    name: string,
    body: KubeObject.KubeObject,
    options?: WriteOptions
  ) => Effect.Effect<KubeObject.KubeObject, Err>
  /** Any request; answers the parsed JSON body (or the text when it is not JSON). */
  readonly request: (request: RawRequest) => Effect.Effect<unknown, Err>
}

/**
 * The Kube client service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Builtins } from "@kubefx/core"
 * import { Kube } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   const cms = yield* kube.list(Builtins.configMaps, { namespace: "default" })
 *   yield* Effect.log(`${cms.items.length} config maps`)
 * }).pipe(Effect.provide(Kube.layerFromFile("/path/to/kubeconfig")))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Kube extends Context.Service<Kube, KubeService>()("@kubefx/runtime/Kube") {
  /**
   * Builds a client in a scope from a client-node KubeConfig ({@link Config.make}); for
   * several users at once.
   *
   * @since 0.1.0
   */
  static readonly make = Config.make

  /**
   * Loads a kubeconfig file into a client-node KubeConfig ({@link Config.loadFile}).
   *
   * @since 0.1.0
   */
  static readonly loadFile = Config.loadFile

  /**
   * A client for the current context of a KubeConfig object.
   *
   * @since 0.1.0
   */
  static readonly layerFromKubeConfig = (
    kc: KubeConfig,
    options?: Config.KubeOptions
  ): Layer.Layer<Kube, Config.KubeConfigError> => Layer.effect(Kube, Config.make(kc, options))

  /**
   * A client from a kubeconfig file, in its current context or the one named.
   *
   * @since 0.1.0
   */
  static readonly layerFromFile = (
    path: string,
    options: Config.KubeOptions & { readonly context?: string | undefined } = {}
  ): Layer.Layer<Kube, Config.KubeConfigError> => Layer.effect(Kube, Config.fromFile(path, options))

  /**
   * A client from the pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token,
   * read again as it rotates, and CA).
   *
   * @since 0.1.0
   */
  static readonly layerInCluster = (
    options: Config.KubeOptions = {}
  ): Layer.Layer<Kube, Config.KubeConfigError> => Layer.effect(Kube, Config.inCluster(options))

  /**
   * A client whose credentials come from a registry's login activities (`Activity.login`),
   * renewed when the API server refuses them ({@link Config.fromLogin}).
   *
   * @since 0.1.0
   */
  static readonly layerFromLogin = (
    registry: { readonly activities: ReadonlyArray<Activity.Activity<unknown>> },
    options: Config.KubeOptions = {}
  ): Layer.Layer<Kube, Config.KubeConfigError | Activities.StartupFailed> =>
    Layer.effect(Kube, Config.fromLogin(registry, options))

  /**
   * The usual lookup: `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster account.
   *
   * @since 0.1.0
   */
  static readonly layerDefault = (
    options: Config.KubeOptions = {}
  ): Layer.Layer<Kube, Config.KubeConfigError> => Layer.effect(Kube, Config.fromDefault(options))
}
