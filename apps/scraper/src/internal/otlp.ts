/**
 * The OTLP exporters of `Telemetry.layer`, in a module of their own so that
 * they are loaded (a dynamic import) only by a run that exports.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import * as OtlpMetrics from "effect/observability/OtlpMetrics"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"
import type { Options } from "../Telemetry.ts"

/** How long the end of a run waits for the last export. */
const shutdownTimeout = Duration.seconds(3)

/** The OTLP tracer and metrics exporter, JSON over their own undici client. */
export const layer = (options: Options): Layer.Layer<never> => {
  const common = {
    resource: options.serviceName === undefined ? {} : { serviceName: options.serviceName },
    headers: options.headers ?? {},
    shutdownTimeout
  }
  const every = (millis: number | undefined) => millis === undefined ? {} : { exportInterval: Duration.millis(millis) }
  return Layer.mergeAll(
    OtlpTracer.layer({ url: `${options.endpoint}/v1/traces`, ...common, ...every(options.tracesExportIntervalMillis) }),
    OtlpMetrics.layer({ url: `${options.endpoint}/v1/metrics`, ...common, ...every(options.metricsExportIntervalMillis) })
  ).pipe(Layer.provide(Layer.merge(OtlpSerialization.layerJson, NodeHttpClient.layerUndici)))
}
