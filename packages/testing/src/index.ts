/**
 * `@kubefx/testing`: test kubefx operators fast, deterministically and without a cluster.
 *
 * - {@link SimCluster}: an in-memory Kubernetes API server behind the runtime's `Kube` service,
 *   driven by Effect's test clock, with a handle to inspect and drive it.
 * - {@link Faults}: seeded fault injection (409, 429, 5xx, slow answers, dropped and expired
 *   watches).
 * - {@link ClusterRunner}: the operator in-process against a real API server (the local control
 *   plane of `@kubefx/controlplane`, or a kubeconfig), with CRDs and objects applied, its log lines
 *   and Events collected, and waits for objects, lines and Events.
 * - {@link Runner}: start, restart (gracefully or abruptly) and stop an operator in-process, on
 *   the simulation or a real cluster; wait for convergence while time advances.
 * - {@link Arbitraries}: fast-check arbitraries for a resource's objects (from its Schema) and
 *   for sequences of user actions, and an interpreter of those actions.
 * - {@link Property}: runs a fast-check property whose cases are Effects, each under a fresh
 *   test clock.
 * - {@link Normalize}: object states without what differs between runs (uids, versions,
 *   timestamps), for differential tests.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Arbitraries from "./Arbitraries.ts"
/** @since 0.1.0 */
export * as ClusterRunner from "./ClusterRunner.ts"
/** @since 0.1.0 */
export * as Faults from "./Faults.ts"
/** Kubernetes quantities (`1Gi`, `500M`) as numbers, compared as the API server does. @since 0.1.0 */
export * as Quantity from "./internal/quantity.ts"
/** @since 0.1.0 */
export * as Normalize from "./Normalize.ts"
/** @since 0.1.0 */
export * as Property from "./Property.ts"
/** @since 0.1.0 */
export * as Runner from "./Runner.ts"
/** @since 0.1.0 */
export * as SimCluster from "./SimCluster.ts"
