/**
 * Set-ups of the simulated API server's unit tests: a store with chosen controllers, objects
 * to put in it, and the error a refused request threw.
 */
import { Builtins, type Json, type KubeObject, type Resource } from "@kubefx/core"
import type { KubeError } from "@kubefx/runtime"
import type { ControllerOptions } from "../../src/internal/controllers/controller.ts"
import { Fail } from "../../src/internal/store/failures.ts"
import type { Operations } from "../../src/internal/store/operations.ts"
import * as Store from "../../src/internal/store.ts"
import { crdManifest } from "../fixtures.ts"

/** The request every call of these tests makes. */
export const req: KubeError.RequestInfo = { method: "TEST", path: "/test" }

/** 2024-01-01T00:00:00Z, the time of every write of these tests. */
export const now = Date.UTC(2024, 0, 1)

/** A store with the namespace `default` and only the controllers asked for. */
export const store = (controllers: Partial<ControllerOptions> = {}, historySize = 100) => {
  const s = Store.make({
    historySize,
    seed: 1,
    controllers: {
      gc: false,
      namespaces: false,
      pvcProtection: false,
      provisioner: false,
      ...controllers
    }
  })
  s.create(req, Builtins.namespaces, { metadata: { name: "default" } }, undefined, now)
  return s
}

/** Creates an object (a ConfigMap unless told) as a client would, at {@link now}. */
export const add = (
  at: { readonly create: Operations["create"] },
  body: KubeObject.KubeObject,
  resource: Resource.ApiResource = Builtins.configMaps
) => at.create(req, resource, body, undefined, now)

/** The error `f` was refused with; fails the test when it was not refused. */
export const refused = (f: () => unknown): KubeError.KubeError => {
  try {
    f()
  } catch (e) {
    if (e instanceof Fail) return e.error
    throw e
  }
  throw new Error("the request was not refused")
}

export const configMap = (
  name: string,
  metadata: Record<string, unknown> = {},
  data: Record<string, string> = {}
): KubeObject.KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "default", ...metadata },
  data
})

/** An owner reference to an object. */
export const ownerRef = (o: KubeObject.KubeObject) => ({
  apiVersion: o.apiVersion ?? "v1",
  kind: o.kind ?? "ConfigMap",
  name: o.metadata?.name ?? "",
  uid: o.metadata?.uid ?? ""
})

/** The names of the stored objects of a resource in `default`. */
export const names = (s: Store.Store, resource = Builtins.configMaps) =>
  s.list(req, resource, "default", () => true).items.map((o) => o.metadata?.name)

/** A CRD of `widgets.test.kubefx.dev` (with `/status`, `spec.size` an integer >= 0), with
 * `extra` fields of its spec. */
export const widgetCrd = (extra: Json.JsonObject = {}): KubeObject.KubeObject => {
  const crd = crdManifest({
    group: "test.kubefx.dev",
    plural: "widgets",
    kind: "Widget",
    status: true,
    schema: {
      type: "object",
      required: ["spec"],
      properties: {
        spec: { type: "object", properties: { size: { type: "integer", minimum: 0 } } },
        status: { type: "object", "x-kubernetes-preserve-unknown-fields": true }
      }
    }
  })
  return { ...crd, spec: { ...(crd.spec as Json.JsonObject), ...extra } }
}

export const widgets = {
  group: "test.kubefx.dev",
  version: "v1",
  plural: "widgets",
  kind: "Widget",
  namespaced: true
} as const
