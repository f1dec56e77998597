/**
 * The EphemeralVolumeClaim example as a library, for tests and benchmarks: its resource and
 * CRD, its handlers' registry, its settings, and the manifest helpers.
 */

export * as Deploy from "./Deploy.ts"
export * as Evc from "./Evc.ts"
export * as Handlers from "./handlers.ts"
export * as Label from "./Label.ts"
export * as Settings from "./Settings.ts"
export * as Template from "./Template.ts"
