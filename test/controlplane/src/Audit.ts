/**
 * The control plane's audit log, for tests: the policy it is written with (Metadata for every
 * request, Request, with the body, for chosen resources) and a reader of the log file
 * (`--audit-log-format=json`: one JSON event per line and stage; `RequestReceived` is omitted,
 * so a request has a `ResponseComplete` line, and a watch a `ResponseStarted` one too).
 *
 * @since 0.1.0
 */
import { closeSync, openSync, readSync, statSync } from "node:fs"

/**
 * Resources whose request bodies are recorded: an API group (`""` for the core group) and
 * resource names, with `name/subresource` for a subresource (`ephemeralvolumeclaims/status`).
 *
 * @since 0.1.0
 */
export interface Bodies {
  readonly group: string
  readonly resources: ReadonlyArray<string>
}

/**
 * One audit event (the fields tests use; see the `audit.k8s.io/v1` Event type for all).
 *
 * @since 0.1.0
 */
export interface Event {
  readonly auditID: string
  readonly stage: "ResponseStarted" | "ResponseComplete" | "Panic" | string
  readonly verb: string
  readonly requestURI: string
  readonly userAgent?: string
  readonly user: { readonly username?: string; readonly groups?: ReadonlyArray<string> }
  readonly objectRef?: {
    readonly resource?: string
    readonly subresource?: string
    readonly namespace?: string
    readonly name?: string
    readonly apiGroup?: string
  }
  readonly responseStatus?: { readonly code?: number; readonly message?: string }
  /** The request's body (level Request), for the resources of {@link Bodies}. */
  readonly requestObject?: unknown
  readonly requestReceivedTimestamp: string
  readonly stageTimestamp: string
}

/**
 * The audit policy: level Request for `bodies`, Metadata for everything else.
 *
 * @example
 * ```ts
 * import { Audit } from "@kubefx/controlplane"
 * Audit.policy([{ group: "", resources: ["configmaps"] }]).rules.length // 2
 * ```
 * @since 0.1.0
 */
export const policy = (bodies: ReadonlyArray<Bodies>) => ({
  apiVersion: "audit.k8s.io/v1",
  kind: "Policy",
  omitStages: ["RequestReceived"],
  rules: [
    ...(bodies.length === 0
      ? []
      : [
          {
            level: "Request",
            resources: bodies.map(({ group, resources }) => ({ group, resources: [...resources] }))
          }
        ]),
    { level: "Metadata" }
  ]
})

/**
 * The log's size now: read from here later to see only what happened since.
 *
 * @example
 * ```ts
 * import { Audit } from "@kubefx/controlplane"
 * const mark = Audit.offset("/tmp/kubefx-controlplane-x/audit.log")
 * Audit.read("/tmp/kubefx-controlplane-x/audit.log", { from: mark })
 * ```
 * @since 0.1.0
 */
export const offset = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/**
 * The events of the log between bytes `from` (default: the start) and `to` (default: the end).
 * `line`, when given, picks the raw lines worth parsing (a cheap test before `JSON.parse`, for
 * large logs). A line that does not parse (the last one while the server writes it, or one cut
 * by a killed server) is skipped.
 *
 * @example
 * ```ts
 * import { Audit } from "@kubefx/controlplane"
 * const creates = Audit.read("/tmp/kubefx-controlplane-x/audit.log", {
 *   line: (text) => text.includes('"verb":"create"')
 * }).filter((e) => e.stage === "ResponseComplete")
 * ```
 * @since 0.1.0
 */
export const read = (
  path: string,
  options: {
    readonly from?: number
    readonly to?: number
    readonly line?: (text: string) => boolean
  } = {}
): Array<Event> => {
  const events: Array<Event> = []
  const to = options.to ?? Number.POSITIVE_INFINITY
  const fd = openSync(path, "r")
  try {
    const chunk = Buffer.alloc(4 * 1024 * 1024)
    let position = options.from ?? 0
    let rest = ""
    while (position < to) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, to - position), position)
      if (n <= 0) break
      position += n
      const lines = (rest + chunk.toString("utf8", 0, n)).split("\n")
      rest = lines.pop() ?? ""
      for (const line of lines) {
        if (options.line !== undefined && !options.line(line)) continue
        const event = parse(line)
        if (event !== undefined) events.push(event)
      }
    }
  } finally {
    closeSync(fd)
  }
  return events
}

const parse = (line: string): Event | undefined => {
  try {
    const event = JSON.parse(line) as Event
    return typeof event === "object" && event !== null && typeof event.verb === "string"
      ? event
      : undefined
  } catch {
    return undefined
  }
}
