/**
 * Writes `deploy/grafana-dashboard.json`: a Grafana dashboard of the operator's metrics (the
 * controller-runtime names every kubefx operator exports on `/metrics`, plus kubefx's own).
 *
 *   node examples/evc/src/dashboard.ts
 *
 * Import the file in Grafana (Dashboards, New, Import) and pick the Prometheus data source that
 * scrapes the operator. A unit test fails when the file is out of date, or when a query names a
 * metric the runtime does not export.
 */
import { writeFileSync } from "node:fs"

/** A time-series panel: one query per legend entry, laid out on a 24-column grid. */
interface Panel {
  readonly title: string
  readonly description: string
  readonly unit: string
  readonly queries: ReadonlyArray<readonly [expr: string, legend: string]>
}

const byController = `controller=~"$controller"`

const quantiles = (metric: string, labels: string) =>
  ([0.5, 0.99] as const).map(
    (q) =>
      [
        `histogram_quantile(${q}, sum by (le) (rate(${metric}_bucket{${labels}}[$__rate_interval])))`,
        `p${q * 100}`
      ] as const
  )

/** The panels, two per row. */
export const panels: ReadonlyArray<Panel> = [
  {
    title: "Reconciliations by result",
    description:
      "Reconciliation steps per second, by result (success, error, requeue, requeue_after).",
    unit: "ops",
    queries: [
      [
        `sum by (result) (rate(controller_runtime_reconcile_total{${byController}}[$__rate_interval]))`,
        "{{result}}"
      ]
    ]
  },
  {
    title: "Reconcile errors",
    description: "Reconciliation steps per second that ended in an error.",
    unit: "ops",
    queries: [
      [
        `sum by (controller) (rate(controller_runtime_reconcile_errors_total{${byController}}[$__rate_interval]))`,
        "{{controller}}"
      ]
    ]
  },
  {
    title: "Reconcile time",
    description: "How long one reconciliation step takes, handlers and API calls included.",
    unit: "s",
    queries: quantiles("controller_runtime_reconcile_time_seconds", byController)
  },
  {
    title: "Workers",
    description: "Reconciliations running now, against the concurrency limit.",
    unit: "short",
    queries: [
      [`sum(controller_runtime_active_workers{${byController}})`, "active"],
      [`sum(controller_runtime_max_concurrent_reconciles{${byController}})`, "max"]
    ]
  },
  {
    title: "Work queue depth",
    description: "Objects waiting for a worker.",
    unit: "short",
    queries: [[`sum by (name) (workqueue_depth{name=~"$controller"})`, "{{name}}"]]
  },
  {
    title: "Time in the queue",
    description: "How long an object waits in the queue before a worker takes it.",
    unit: "s",
    queries: quantiles("workqueue_queue_duration_seconds", `name=~"$controller"`)
  },
  {
    title: "Queue adds and retries",
    description:
      "Objects added to the queue, and the retries among them (temporary errors, delays).",
    unit: "ops",
    queries: [
      [`sum(rate(workqueue_adds_total{name=~"$controller"}[$__rate_interval]))`, "adds"],
      [`sum(rate(workqueue_retries_total{name=~"$controller"}[$__rate_interval]))`, "retries"]
    ]
  },
  {
    title: "Stuck work",
    description:
      "Work in progress not yet finished: its total age, and the longest-running processor. A line that only grows is a stuck handler.",
    unit: "s",
    queries: [
      [`sum(workqueue_unfinished_work_seconds{name=~"$controller"})`, "unfinished"],
      [`max(workqueue_longest_running_processor_seconds{name=~"$controller"})`, "longest"]
    ]
  },
  {
    title: "Handler runs by outcome",
    description: "Handler runs per second, by handler id and outcome.",
    unit: "ops",
    queries: [
      [
        `sum by (handler, outcome) (rate(kubefx_handler_runs_total{${byController}}[$__rate_interval]))`,
        "{{handler}} {{outcome}}"
      ]
    ]
  },
  {
    title: "Objects known",
    description: "Objects in the watch caches, by resource.",
    unit: "short",
    queries: [["sum by (resource) (kubefx_objects)", "{{resource}}"]]
  },
  {
    title: "API requests by code",
    description: "Requests to the API server per second, by method and status code.",
    unit: "reqps",
    queries: [
      [
        "sum by (method, code) (rate(rest_client_requests_total[$__rate_interval]))",
        "{{method}} {{code}}"
      ]
    ]
  },
  {
    title: "Watch restarts",
    description:
      "Watches opened again, by resource and reason (expired, idle, error, ...). A steady rate of 'idle' means a silent network.",
    unit: "short",
    queries: [
      [
        "sum by (resource, reason) (increase(kubefx_watch_restarts_total[$__rate_interval]))",
        "{{resource}} {{reason}}"
      ]
    ]
  },
  {
    title: "API request latency",
    description: "How long requests to the API server take (watches excluded).",
    unit: "s",
    queries: quantiles("rest_client_request_duration_seconds", `verb!="WATCH"`)
  }
]

const datasource = { type: "prometheus", uid: "$datasource" }

const panelJson = (panel: Panel, index: number) => ({
  id: index + 1,
  type: "timeseries",
  title: panel.title,
  description: panel.description,
  datasource,
  gridPos: { h: 8, w: 12, x: (index % 2) * 12, y: Math.floor(index / 2) * 8 },
  fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
  options: { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi" } },
  targets: panel.queries.map(([expr, legendFormat], i) => ({
    refId: String.fromCharCode(65 + i),
    datasource,
    expr,
    legendFormat
  }))
})

/** The dashboard, in Grafana's JSON model (schema version 39). */
export const dashboard = {
  title: "kubefx operator",
  uid: "kubefx-operator",
  description:
    "Reconciliations, work queue, handlers, watches and API requests of a kubefx operator.",
  tags: ["kubefx", "kubernetes", "operator"],
  schemaVersion: 39,
  editable: true,
  time: { from: "now-1h", to: "now" },
  refresh: "30s",
  templating: {
    list: [
      { name: "datasource", type: "datasource", query: "prometheus", label: "Data source" },
      {
        name: "controller",
        type: "query",
        label: "Controller",
        datasource,
        query: "label_values(controller_runtime_reconcile_total, controller)",
        includeAll: true,
        multi: true,
        current: { text: "All", value: "$__all" },
        allValue: ".*",
        refresh: 2
      }
    ]
  },
  panels: panels.map(panelJson)
}

export const dashboardPath = new URL("../deploy/grafana-dashboard.json", import.meta.url)

export const dashboardJson = (): string => `${JSON.stringify(dashboard, null, 2)}\n`

if (import.meta.main) {
  writeFileSync(dashboardPath, dashboardJson())
  console.log(`wrote ${dashboardPath.pathname}`)
}
