/**
 * The simulated API server's state and semantics, as plain synchronous functions over mutable
 * maps: every operation either answers a value or throws a {@link Fail} carrying the typed
 * error the real server's answer maps to. `SimCluster` wraps these in Effects (time, faults,
 * client retries, watches as streams).
 *
 * The parts: the object store (`store/objects.ts`), what a write may do (`store/admission.ts`,
 * `store/claims.ts`), CRD serving (`store/crds.ts`), the requests (`store/operations.ts`) and
 * the controllers (`controllers/`, one module each).
 */
import type { KubeObject } from "@kubefx/core"
import type { KubeError } from "@kubefx/runtime"
import * as Controllers from "./controllers/controller.ts"
import * as GarbageCollector from "./controllers/garbageCollector.ts"
import * as NamespaceController from "./controllers/namespaceController.ts"
import * as Provisioner from "./controllers/provisioner.ts"
import * as PvcProtection from "./controllers/pvcProtection.ts"
import * as Crds from "./store/crds.ts"
import type { Def } from "./store/defs.ts"
import { Fail } from "./store/failures.ts"
import type { Obj } from "./store/object.ts"
import * as Objects from "./store/objects.ts"
import * as Operations from "./store/operations.ts"

export type { ControllerOptions } from "./controllers/controller.ts"
export { apiVersionOf, type Def } from "./store/defs.ts"
export { Fail } from "./store/failures.ts"
export type {
  Admission,
  AdmissionAttributes,
  Change,
  IdentityMark,
  Watch
} from "./store/objects.ts"

/** How a write ran with an admission hook: its value, its failure, or the answer it needs. */
export type Admitted<A> =
  | { readonly _tag: "Done"; readonly value: A }
  | { readonly _tag: "Failed"; readonly error: KubeError.KubeError }
  | { readonly _tag: "Need"; readonly need: Objects.NeedAdmission }

export interface StoreOptions {
  /** How many changes the watch history keeps. */
  readonly historySize: number
  /** Seed of uids and generated names. */
  readonly seed: number
  readonly controllers: Controllers.ControllerOptions
}

/** The simulated server's state: its requests, its watches and its controllers. */
export interface Store extends Operations.Operations {
  /** The resource types served now (built-ins, then those of CRDs), for discovery. */
  readonly served: () => Iterable<Def>
  /** Delivers a change to a watch (the `initial` changes `openWatch` answered). */
  readonly deliver: (w: Objects.Watch, c: Objects.Change) => void
  /** Ends a watch: no change reaches it any more. */
  readonly closeWatch: (w: Objects.Watch) => void
  /** A stored object as the server answers it, at a version of its type. */
  readonly out: (d: Def, o: Obj, version?: string) => KubeObject.KubeObject
  /** Runs the controllers until nothing changes. */
  readonly reconcileControllers: (now: number) => void
  /** The current resourceVersion. */
  readonly currentVersion: () => string
  /** Forgets the watch history: watches from any version known so far get 410. */
  readonly compact: () => void
  /** Calls `f` after every change (the controllers' wake-up). */
  readonly setOnChange: (f: () => void) => void
  /** Where the uids and generated names are; `reset` takes them back there. */
  readonly mark: () => Objects.IdentityMark
  readonly reset: (mark: Objects.IdentityMark) => void
  /** Runs a write with `hook` as the admission webhooks' say (none: admitted as it is). */
  readonly withAdmission: <A>(hook: Objects.Admission | undefined, run: () => A) => Admitted<A>
}

/** The enabled controllers, in the order they look at each object. */
const controllersOf = (ctx: Controllers.Context, enabled: Controllers.ControllerOptions) =>
  [
    enabled.gc ? GarbageCollector.make(ctx) : undefined,
    enabled.pvcProtection ? PvcProtection.make(ctx) : undefined,
    enabled.provisioner ? Provisioner.make(ctx) : undefined,
    enabled.namespaces ? NamespaceController.make(ctx) : undefined
  ].filter((c) => c !== undefined)

/** A simulated server with the built-in types and nothing in them. */
export const make = (options: StoreOptions): Store => {
  const objects = Objects.make(options)
  Crds.serve(objects)
  let onChange: () => void = () => {}
  objects.onCommit(() => onChange())
  const operations = Operations.make(objects)
  const controllers = controllersOf({ objects, remove: operations.remove }, options.controllers)
  return {
    ...operations,
    served: () => objects.defs.values(),
    deliver: objects.deliver,
    closeWatch: objects.unwatch,
    out: objects.out,
    reconcileControllers: (now) => Controllers.reconcile(objects, controllers, now),
    currentVersion: () => String(objects.version()),
    compact: objects.compact,
    setOnChange: (f) => {
      onChange = f
    },
    mark: objects.mark,
    reset: objects.reset,
    withAdmission: (hook, run) => {
      const before = objects.admission
      if (hook !== undefined) objects.admission = hook
      try {
        return { _tag: "Done", value: run() }
      } catch (e) {
        if (e instanceof Fail) return { _tag: "Failed", error: e.error }
        if (e instanceof Objects.NeedAdmission) return { _tag: "Need", need: e }
        throw e
      } finally {
        objects.admission = before
      }
    }
  }
}
