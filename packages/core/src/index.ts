/**
 * `@kubefx/core`: everything Kopf's engine decides, as pure values and functions over Effect.
 * No I/O, no Kubernetes client: the runtime interprets `Reconcile.reconcile`'s decisions.
 *
 * @since 0.1.0
 */

/**
 * Operator-wide activities: startup, cleanup and probes.
 *
 * @since 0.1.0
 */
export * as Activity from "./Activity.ts"
/**
 * Admission webhooks: validating and mutating handlers, reviews and decisions as values.
 *
 * @since 0.1.0
 */
export * as Admission from "./Admission.ts"
/**
 * Retry delays from Effect Schedules, deterministic per object, handler and change.
 *
 * @since 0.1.0
 */
export * as Backoff from "./Backoff.ts"
/**
 * The built-in resources kubefx addresses (namespaces, events, claims, CRDs, RBAC, ...).
 *
 * @since 0.1.0
 */
export * as Builtins from "./Builtins.ts"
/**
 * Cause detection: create, update, delete, resume, noop, gone, and the finalizer action.
 *
 * @since 0.1.0
 */
export * as Causes from "./Causes.ts"
/**
 * CRD version conversion from Effect Schemas: versions, conversions as Schema transformations,
 * `ConversionReview` answers.
 *
 * @since 0.1.0
 */
export * as Conversion from "./Conversion.ts"
/**
 * CustomResourceDefinitions from Effect Schemas, lowered to structural OpenAPI 3.0.
 *
 * @since 0.1.0
 */
export * as Crd from "./Crd.ts"
/**
 * Diffs of JSON values as `(op, path, old, new)` items.
 *
 * @since 0.1.0
 */
export * as Diff from "./Diff.ts"
/**
 * The essence of an object and its bounded last-handled record.
 *
 * @since 0.1.0
 */
export * as Essence from "./Essence.ts"
/**
 * Handler filters: labels, annotations, fields, old / new values, predicates.
 *
 * @since 0.1.0
 */
export * as Filter from "./Filter.ts"
/**
 * The handler DSL: `onCreate`, `onUpdate`, `onDelete`, `onResume`, `onField`, `onEvent`.
 *
 * @since 0.1.0
 */
export * as Handler from "./Handler.ts"
/**
 * JSON values, paths, equality, canonical form and digests.
 *
 * @since 0.1.0
 */
export * as Json from "./Json.ts"
/**
 * Kubernetes objects as plain JSON, with typed metadata: the one object type of every package.
 *
 * @since 0.1.0
 */
export * as KubeObject from "./KubeObject.ts"

/**
 * `coordination.k8s.io/v1` Leases as client-go's leader election reads and writes them: expiry
 * from local observation, the records to take, renew and release a Lease.
 *
 * @since 0.1.0
 */
export * as Lease from "./Lease.ts"

/**
 * In-memory indexes of watched objects, read by handlers as services.
 *
 * @since 0.1.0
 */
export * as Index from "./ObjectIndex.ts"
/**
 * Handler outcomes and errors: `TemporaryError`, `PermanentError`, `RetriesExhausted`, `HandlerTimeout`.
 *
 * @since 0.1.0
 */
export * as Outcome from "./Outcome.ts"
/**
 * Ownership of child objects: `adopt` (as `kopf.adopt`), `isOwnedBy`, `controllerOf`.
 *
 * @since 0.1.0
 */
export * as Owner from "./Owner.ts"
/**
 * JSON merge patches (RFC 7386) and the handlers' patch builder.
 *
 * @since 0.1.0
 */
export * as Patch from "./Patch.ts"
/**
 * Per-handler progress and its pure transitions.
 *
 * @since 0.1.0
 */
export * as Progress from "./Progress.ts"
/**
 * One reconciliation step as a value: `reconcile` and `Decision`.
 *
 * @since 0.1.0
 */
export * as Reconcile from "./Reconcile.ts"
/**
 * The immutable registry of handlers.
 *
 * @since 0.1.0
 */
export * as Registry from "./Registry.ts"

/**
 * Kubernetes resources (group, version, plural, kind, scope, spec Schema).
 *
 * @since 0.1.0
 */
export * as Resource from "./Resource.ts"

/**
 * Paths into the values an Effect Schema describes, and the closest existing ones.
 *
 * @since 0.1.0
 */
export * as SchemaPath from "./SchemaPath.ts"

/**
 * Resource selectors: plural, `plural.group`, group/version/plural, kind.
 *
 * @since 0.1.0
 */
export * as Selector from "./Selector.ts"

/**
 * The split of objects across sharded replicas: FNV-1a hashes, buckets assigned by rendezvous
 * hashing, hash ranges and the API server's `shardSelector`, the handoff's plan.
 *
 * @since 0.1.0
 */
export * as Shard from "./Shard.ts"

/**
 * Daemons and timers as decisions: which ones an object should have running, when a timer is
 * due, what one run comes to.
 *
 * @since 0.1.0
 */
export * as Spawn from "./Spawn.ts"

/**
 * Where progress, the last-handled essence and the finalizer live on the object.
 *
 * @since 0.1.0
 */
export * as Storage from "./Storage.ts"
/**
 * "Did you mean ...?": the closest candidates to a word, for the messages of mistakes.
 *
 * @since 0.1.0
 */
export * as Suggest from "./Suggest.ts"
