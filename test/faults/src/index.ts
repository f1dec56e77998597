/**
 * `@kubefx/faults`: the fault suite's tools: a TCP fault proxy, the operator under test as a
 * child process, and a kubeconfig through the proxy.
 *
 * @since 0.1.0
 */
export * as FaultProxy from "./FaultProxy.ts"
export * as Kubeconfig from "./Kubeconfig.ts"
export * as OperatorProcess from "./OperatorProcess.ts"
