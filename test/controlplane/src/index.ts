/**
 * `@kubefx/controlplane`: a real kube-apiserver, etcd and kube-controller-manager on loopback,
 * built from Go modules or taken from a folder of binaries (envtest's included), for tests of
 * operators, kubefx's demo and benchmarks.
 *
 * @since 0.1.0
 */
export * as Audit from "./Audit.ts"
export * as Binaries from "./Binaries.ts"
export * as Build from "./Build.ts"
export * as ControlPlane from "./ControlPlane.ts"
export * as FaultProxy from "./FaultProxy.ts"
export * as Kubeconfig from "./Kubeconfig.ts"
export * as Paths from "./Paths.ts"
export * as Pki from "./Pki.ts"
export * as Ports from "./Ports.ts"
export * as Process from "./Process.ts"
export * as Promlint from "./Promlint.ts"
export * as Watchdog from "./Watchdog.ts"
