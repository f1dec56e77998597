/**
 * The operator's metrics, on Effect's `Metric` module, with controller-runtime's names, label
 * names and bucket layouts (so that dashboards and alerts written for Go operators work), plus
 * kubefx's own. The `controller` label is the resource's name (`widgets.example.com`), the
 * work queue's `name` label the same. {@link text} renders every metric of the registry in the
 * Prometheus text format (`PrometheusMetrics` of `effect/observability`); the health server
 * serves it on `/metrics`. The table of metrics and their meaning is in docs/OPERATIONS.md.
 *
 * @since 0.1.0
 */
import { type Context, type Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"

/** controller-runtime's reconcile-time buckets (seconds). */
const reconcileBuckets = Metric.boundariesFromIterable([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1,
  1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60
])

/** client-go's work queue buckets: `ExponentialBuckets(10e-9, 10, 12)`, 10 ns to 1000 s. */
const queueBuckets = Metric.boundariesFromIterable([
  1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000
])

/** client-go's request latency buckets (seconds). */
const requestBuckets = Metric.boundariesFromIterable([
  0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60
])

/**
 * `controller_runtime_reconcile_total{controller,result}`: reconciliation steps; `result` is
 * `success`, `error` (the decision could not be written: the object is retried after the
 * error backoff) or `requeue_after` (the step asked to come back later: a retry, a delay).
 *
 * @since 0.1.0
 * @category controller
 */
export const reconcileTotal = Metric.counter("controller_runtime_reconcile_total", {
  description: "Total number of reconciliations per controller",
  incremental: true
})

/**
 * `controller_runtime_reconcile_errors_total{controller}`: steps whose decision could not be
 * written (the `error` results of {@link reconcileTotal}).
 *
 * @since 0.1.0
 * @category controller
 */
export const reconcileErrors = Metric.counter("controller_runtime_reconcile_errors_total", {
  description: "Total number of reconciliation errors per controller",
  incremental: true
})

/**
 * `controller_runtime_reconcile_time_seconds{controller}`: the duration of one step, handlers
 * and writes included.
 *
 * @since 0.1.0
 * @category controller
 */
export const reconcileTime = Metric.histogram("controller_runtime_reconcile_time_seconds", {
  description: "Length of time per reconciliation per controller",
  boundaries: reconcileBuckets
})

/**
 * `controller_runtime_active_workers{controller}`: steps running now.
 *
 * @since 0.1.0
 * @category controller
 */
export const activeWorkers = Metric.gauge("controller_runtime_active_workers", {
  description: "Number of currently used workers per controller"
})

/**
 * `controller_runtime_max_concurrent_reconciles{controller}`: the `concurrency` setting (one
 * bound shared by every resource of the operator).
 *
 * @since 0.1.0
 * @category controller
 */
export const maxConcurrentReconciles = Metric.gauge(
  "controller_runtime_max_concurrent_reconciles",
  { description: "Maximum number of concurrent reconciles per controller" }
)

/**
 * `workqueue_depth{name,controller}`: objects waiting in the queue (not yet taken by a worker).
 *
 * @since 0.1.0
 * @category workqueue
 */
export const queueDepth = Metric.gauge("workqueue_depth", {
  description: "Current depth of workqueue"
})

/**
 * `workqueue_adds_total{name,controller}`: items handed to the queue (watch events and
 * requeues; a newer item replacing a waiting one counts too).
 *
 * @since 0.1.0
 * @category workqueue
 */
export const queueAdds = Metric.counter("workqueue_adds_total", {
  description: "Total number of adds handled by workqueue",
  incremental: true
})

/**
 * `workqueue_queue_duration_seconds{name,controller}`: from an object's first waiting item to
 * the moment a worker takes it.
 *
 * @since 0.1.0
 * @category workqueue
 */
export const queueDuration = Metric.histogram("workqueue_queue_duration_seconds", {
  description: "How long in seconds an item stays in workqueue before being requested",
  boundaries: queueBuckets
})

/**
 * `workqueue_work_duration_seconds{name,controller}`: how long processing one item takes.
 *
 * @since 0.1.0
 * @category workqueue
 */
export const workDuration = Metric.histogram("workqueue_work_duration_seconds", {
  description: "How long in seconds processing an item from workqueue takes",
  boundaries: queueBuckets
})

/**
 * `workqueue_retries_total{name,controller}`: requeues scheduled (a handler's retry or delay,
 * the error backoff, a stale copy's wait).
 *
 * @since 0.1.0
 * @category workqueue
 */
export const queueRetries = Metric.counter("workqueue_retries_total", {
  description: "Total number of retries handled by workqueue",
  incremental: true
})

/**
 * `workqueue_unfinished_work_seconds{name,controller}`: the summed age of the items in process
 * (updated every second). Large values indicate stuck handlers.
 *
 * @since 0.1.0
 * @category workqueue
 */
export const unfinishedWork = Metric.gauge("workqueue_unfinished_work_seconds", {
  description:
    "How many seconds of work has been done that is in progress and has not been observed by work_duration"
})

/**
 * `workqueue_longest_running_processor_seconds{name,controller}`: the age of the oldest item
 * in process (updated every second).
 *
 * @since 0.1.0
 * @category workqueue
 */
export const longestRunning = Metric.gauge("workqueue_longest_running_processor_seconds", {
  description: "How many seconds has the longest running processor for workqueue been running"
})

/**
 * `rest_client_requests_total{code,method,host}`: API requests by answer (`code` is the HTTP
 * status, or `<error>` when no answer came), watches included.
 *
 * @since 0.1.0
 * @category client
 */
export const requestsTotal = Metric.counter("rest_client_requests_total", {
  description: "Number of HTTP requests, partitioned by status code, method, and host",
  incremental: true
})

/**
 * `rest_client_request_duration_seconds{verb,host}`: from sending a request to its last byte
 * (for watches: to their response headers).
 *
 * @since 0.1.0
 * @category client
 */
export const requestDuration = Metric.histogram("rest_client_request_duration_seconds", {
  description: "Request latency in seconds, broken down by verb and host",
  boundaries: requestBuckets
})

/**
 * `kubefx_handler_runs_total{controller,handler,outcome}`: handler runs by id and outcome
 * (`Success`, `Retry`, `Failure`).
 *
 * @since 0.1.0
 * @category kubefx
 */
export const handlerRuns = Metric.counter("kubefx_handler_runs_total", {
  description: "Handler runs by controller, handler id and outcome",
  incremental: true
})

/**
 * `kubefx_watch_restarts_total{resource,reason}`: a list or watch started again after a
 * failure; `reason` is the failure (`WATCH_IDLE`, `ECONNREFUSED`, `Expired`, `Forbidden`, ...).
 *
 * @since 0.1.0
 * @category kubefx
 */
export const watchRestarts = Metric.counter("kubefx_watch_restarts_total", {
  description: "Watch and list restarts by resource and reason",
  incremental: true
})

/**
 * `kubefx_objects{resource}`: objects of the resource known from the watch now.
 *
 * @since 0.1.0
 * @category kubefx
 */
export const objects = Metric.gauge("kubefx_objects", {
  description: "Objects known per resource"
})

/**
 * `kubefx_leader{lease}`: 1 while this replica holds the leader-election Lease, 0 otherwise.
 *
 * @since 0.1.0
 * @category kubefx
 */
export const leader = Metric.gauge("kubefx_leader", {
  description: "Whether this replica is the leader (1) or stands by (0)"
})

/**
 * `kubefx_watch_events_total{resource}`: events the API server sent on the resource's watches
 * (lists' items included), before the shard filter: what a replica receives.
 *
 * @since 0.1.0
 * @category kubefx
 */
export const watchEvents = Metric.counter("kubefx_watch_events_total", {
  description: "Objects received from lists and watch events by resource",
  incremental: true
})

/**
 * `kubefx_shard_filtered_total{resource}`: received objects the replica dropped because their
 * hash lies outside its shard (the API server did not filter them: see `Sharding`).
 *
 * @since 0.1.0
 * @category kubefx
 */
export const shardFiltered = Metric.counter("kubefx_shard_filtered_total", {
  description: "Received objects outside this replica's shard, dropped on the client",
  incremental: true
})

/**
 * `kubefx_shard_buckets{group}`: the hash buckets this replica holds and serves now (of 256).
 *
 * @since 0.1.0
 * @category kubefx
 */
export const shardBuckets = Metric.gauge("kubefx_shard_buckets", {
  description: "Hash buckets this replica holds"
})

/**
 * `kubefx_shard_members{group}`: the live members of the shard group this replica sees.
 *
 * @since 0.1.0
 * @category kubefx
 */
export const shardMembers = Metric.gauge("kubefx_shard_members", {
  description: "Live members of the shard group"
})

/**
 * `kubefx_shard_handoffs_total{group,direction}`: buckets this replica took (`claimed`) or gave
 * up (`released`, after draining them; `lost`, when its lease could not be renewed).
 *
 * @since 0.1.0
 * @category kubefx
 */
export const shardHandoffs = Metric.counter("kubefx_shard_handoffs_total", {
  description: "Buckets claimed and released by this replica",
  incremental: true
})

/**
 * `kubefx_spans_dropped_total`: spans the OTLP exporter dropped: its queue was full, or
 * their batch could not be sent (the collector is slow, down or refusing).
 *
 * @since 0.1.0
 * @category kubefx
 */
export const spansDropped = Metric.counter("kubefx_spans_dropped_total", {
  description: "Spans dropped by the OTLP exporter (queue full or export failed)",
  incremental: true
})

/**
 * `kubefx_spans_queued`: spans waiting for the OTLP exporter's next batch (at most
 * `OTEL_BSP_MAX_QUEUE_SIZE`).
 *
 * @since 0.1.0
 * @category kubefx
 */
export const spansQueued = Metric.gauge("kubefx_spans_queued", {
  description: "Spans waiting in the OTLP exporter's queue"
})

/**
 * `metric` by attributes, for the hot paths: `Metric.withAttributes` builds a new series (and
 * computes its key) on every call, this makes each distinct set of attribute values once. Give
 * the attributes in the same order at every call of one series function.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "@kubefx/runtime"
 *
 * const runs = Metrics.series(Metrics.handlerRuns)
 * const counted = Metric.update(runs({ controller: "widgets", handler: "h", outcome: "Success" }), 1)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const series = <Input, State>(
  metric: Metric.Metric<Input, State>
): ((attributes: Readonly<Record<string, string>>) => Metric.Metric<Input, State>) => {
  const made = new Map<string, Metric.Metric<Input, State>>()
  return (attributes) => {
    const key = Object.values(attributes).join("\u0000")
    let found = made.get(key)
    if (found === undefined) {
      found = Metric.withAttributes(metric, attributes)
      made.set(key, found)
    }
    return found
  }
}

/**
 * Every metric of the current registry (`Metric.MetricRegistry`) in the Prometheus text format.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Metrics } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   yield* Metric.update(Metric.withAttributes(Metrics.handlerRuns, { handler: "h" }), 1)
 *   return yield* Metrics.text // "# HELP kubefx_handler_runs_total ..."
 * })
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const text: Effect.Effect<string> = PrometheusMetrics.format()

/**
 * {@link text} without an Effect, for the registry of `context` (the health server renders
 * `/metrics` this way, synchronously).
 *
 * @example
 * ```ts
 * import { Context } from "effect"
 * import { Metrics } from "@kubefx/runtime"
 *
 * const body = Metrics.textUnsafe(Context.empty())
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const textUnsafe = (context: Context.Context<never>): string =>
  PrometheusMetrics.formatUnsafe(context)
