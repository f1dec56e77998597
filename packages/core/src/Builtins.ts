/**
 * The built-in resources kubefx itself, its tests and its examples address, declared once.
 *
 * @since 0.1.0
 */
import * as Resource from "./Resource.ts"

const named = (group: string, plural: string, kind: string, namespaced = true) =>
  Resource.make({ group, version: "v1", plural, kind, namespaced })

/**
 * `v1` Namespaces (cluster-scoped).
 *
 * @example
 * ```ts
 * import { Builtins } from "@kubefx/core"
 *
 * Builtins.namespaces.namespaced // false
 * ```
 *
 * @since 0.1.0
 * @category core
 */
export const namespaces = Resource.core("v1", "namespaces", "Namespace", false)

/**
 * `v1` ConfigMaps.
 *
 * @since 0.1.0
 * @category core
 */
export const configMaps = Resource.core("v1", "configmaps", "ConfigMap")

/**
 * `v1` Secrets.
 *
 * @since 0.1.0
 * @category core
 */
export const secrets = Resource.core("v1", "secrets", "Secret")

/**
 * `v1` Events (what the operator posts about objects).
 *
 * @since 0.1.0
 * @category core
 */
export const events = Resource.core("v1", "events", "Event")

/**
 * `v1` PersistentVolumeClaims.
 *
 * @since 0.1.0
 * @category core
 */
export const persistentVolumeClaims = Resource.core(
  "v1",
  "persistentvolumeclaims",
  "PersistentVolumeClaim"
)

/**
 * `v1` Pods.
 *
 * @since 0.1.0
 * @category core
 */
export const pods = Resource.core("v1", "pods", "Pod")

/**
 * `v1` ServiceAccounts.
 *
 * @since 0.1.0
 * @category core
 */
export const serviceAccounts = Resource.core("v1", "serviceaccounts", "ServiceAccount")

/**
 * `apps/v1` Deployments.
 *
 * @since 0.1.0
 * @category apps
 */
export const deployments = named("apps", "deployments", "Deployment")

/**
 * `storage.k8s.io/v1` StorageClasses (cluster-scoped).
 *
 * @since 0.1.0
 * @category storage
 */
export const storageClasses = named("storage.k8s.io", "storageclasses", "StorageClass", false)

/**
 * `coordination.k8s.io/v1` Leases.
 *
 * @since 0.1.0
 * @category coordination
 */
export const leases = named("coordination.k8s.io", "leases", "Lease")

/**
 * `apiextensions.k8s.io/v1` CustomResourceDefinitions (cluster-scoped).
 *
 * @since 0.1.0
 * @category apiextensions
 */
export const customResourceDefinitions = named(
  "apiextensions.k8s.io",
  "customresourcedefinitions",
  "CustomResourceDefinition",
  false
)

const rbac = "rbac.authorization.k8s.io"

/**
 * `rbac.authorization.k8s.io/v1` ClusterRoles (cluster-scoped).
 *
 * @since 0.1.0
 * @category rbac
 */
export const clusterRoles = named(rbac, "clusterroles", "ClusterRole", false)

/**
 * `rbac.authorization.k8s.io/v1` ClusterRoleBindings (cluster-scoped).
 *
 * @since 0.1.0
 * @category rbac
 */
export const clusterRoleBindings = named(rbac, "clusterrolebindings", "ClusterRoleBinding", false)

/**
 * `rbac.authorization.k8s.io/v1` Roles.
 *
 * @since 0.1.0
 * @category rbac
 */
export const roles = named(rbac, "roles", "Role")

/**
 * `rbac.authorization.k8s.io/v1` RoleBindings.
 *
 * @since 0.1.0
 * @category rbac
 */
export const roleBindings = named(rbac, "rolebindings", "RoleBinding")

const admissionRegistration = "admissionregistration.k8s.io"

/**
 * `admissionregistration.k8s.io/v1` ValidatingWebhookConfigurations (cluster-scoped).
 *
 * @since 0.1.0
 * @category admissionregistration
 */
export const validatingWebhookConfigurations = named(
  admissionRegistration,
  "validatingwebhookconfigurations",
  "ValidatingWebhookConfiguration",
  false
)

/**
 * `admissionregistration.k8s.io/v1` MutatingWebhookConfigurations (cluster-scoped).
 *
 * @since 0.1.0
 * @category admissionregistration
 */
export const mutatingWebhookConfigurations = named(
  admissionRegistration,
  "mutatingwebhookconfigurations",
  "MutatingWebhookConfiguration",
  false
)
