/**
 * `@kubefx/controlplane`: a real kube-apiserver, etcd and kube-controller-manager on loopback,
 * built from Go modules, for kubefx's tests, demo and benchmarks.
 *
 * @since 0.1.0
 */
export * as Audit from "./Audit.ts"
export * as Build from "./Build.ts"
export * as ControlPlane from "./ControlPlane.ts"
export * as FaultProxy from "./FaultProxy.ts"
export * as Kubeconfig from "./Kubeconfig.ts"
export * as Paths from "./Paths.ts"
export * as Process from "./Process.ts"
