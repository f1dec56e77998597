/**
 * The example's own settings, from the environment:
 *
 * - `EVC_STORAGE_CLASS`: the StorageClass of the PVCs (default `kubefx-expandable`, which
 *   `deploy/storageclass.yaml` defines with `allowVolumeExpansion: true`);
 * - `EVC_RESIZE_RETRY`: how long to wait before trying again a resize the API server refused
 *   because the PVC is not bound yet, its class cannot expand, or the operator's role lacks
 *   `patch` on PVCs (default `30 seconds`).
 */
import { Config, Context, Duration, Effect, Layer } from "effect"

export interface EvcSettingsShape {
  readonly storageClass: string
  readonly resizeRetry: Duration.Duration
}

export class EvcSettings extends Context.Service<EvcSettings, EvcSettingsShape>()(
  "@kubefx/example-evc/EvcSettings"
) {}

export const fromEnv: Layer.Layer<EvcSettings, Config.ConfigError> = Layer.effect(
  EvcSettings,
  Effect.gen(function* () {
    const storageClass = yield* Config.String("EVC_STORAGE_CLASS").pipe(
      Config.withDefault("kubefx-expandable")
    )
    const resizeRetry = yield* Config.Duration("EVC_RESIZE_RETRY").pipe(
      Config.withDefault(Duration.seconds(30))
    )
    return { storageClass, resizeRetry }
  })
)

export const layer = (settings: EvcSettingsShape): Layer.Layer<EvcSettings> =>
  Layer.succeed(EvcSettings, settings)
