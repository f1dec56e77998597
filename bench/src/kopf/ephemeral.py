"""
The walkthrough's EphemeralVolumeClaim operator for Kopf, with the walkthrough's slips corrected so that it
does the same work as kubefx's `examples/evc`:

- the size is read from `spec.size` (the seed's update handler read `spec['create_fn']`);
- the PVC is named after the EVC, so nothing is read back from the wrong status key (the seed
  read `status['pvc-name']` while the result lands under `status['create_fn']`);
- `kopf.adopt` receives the `body` it is given (the seed used `body` without receiving it);
- the PVC template is kubefx's (`examples/evc/src/pvc.yaml`: storageClassName from
  `EVC_STORAGE_CLASS`, default `kubefx-expandable`) with the same labels;
- a PVC that already exists is adopted when it is ours, a permanent error when it is not;
- the update handler (on `spec.size`) reads the PVC, checks it is ours, patches its requested
  storage, and returns `{pvcName, size}` (-> `status.update_fn`); a resize the API server refuses
  (PVC not bound: 422; class cannot expand: 403) is a temporary error retried after
  `EVC_RESIZE_RETRY_SECONDS` (default 30), as kubefx's `EVC_RESIZE_RETRY`.

One change from the walkthrough's style, in Kopf's favour: one `CoreV1Api` for the process instead of
a new client (and so new TLS connections) in every handler call.

Everything else is Kopf's defaults (progress in annotations + status, the diff-base annotation,
events posted at INFO, the thread-pool executor for sync handlers).
"""
import os

import kopf
import kubernetes
import yaml

STORAGE_CLASS = os.environ.get('EVC_STORAGE_CLASS', 'kubefx-expandable')
RESIZE_RETRY = float(os.environ.get('EVC_RESIZE_RETRY_SECONDS', '30'))
TEMPLATE = os.environ.get(
    'EVC_PVC_TEMPLATE',
    os.path.join(os.path.dirname(__file__), '..', '..', '..', 'examples', 'evc', 'src', 'pvc.yaml'),
)

with open(TEMPLATE, 'rt') as f:
    TMPL = f.read()

_api = None


def api() -> kubernetes.client.CoreV1Api:
    # Kopf's login (via the kubernetes client) has loaded the kubeconfig by now.
    global _api
    if _api is None:
        _api = kubernetes.client.CoreV1Api()
    return _api


def render(name: str, size: str) -> dict:
    # The placeholders are replaced in the parsed document's strings, as kubefx does.
    data = yaml.safe_load(TMPL)

    def fill(value):
        if isinstance(value, str):
            return value.replace('{name}', name).replace('{size}', size).replace('{storageClass}', STORAGE_CLASS)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return fill(data)


def is_ours(pvc, uid: str) -> bool:
    return any(ref.uid == uid for ref in (pvc.metadata.owner_references or []))


def create_or_adopt(body, name: str, namespace: str, size: str):
    data = render(name, size)
    kopf.adopt(data, owner=body)
    try:
        return api().create_namespaced_persistent_volume_claim(namespace=namespace, body=data)
    except kubernetes.client.ApiException as e:
        if e.status != 409:
            raise
        existing = api().read_namespaced_persistent_volume_claim(namespace=namespace, name=name)
        if not is_ours(existing, body['metadata']['uid']):
            raise kopf.PermanentError(
                f"PVC {namespace}/{name} already exists and is not owned by this EVC; delete or rename it")
        return existing


@kopf.on.create('kopf.dev', 'v1', 'ephemeralvolumeclaims')
def create_fn(body, spec, name, namespace, logger, **kwargs):
    size = spec.get('size')
    if not size:
        raise kopf.PermanentError(f"Size must be set. Got {size!r}.")
    obj = create_or_adopt(body, name, namespace, size)
    logger.info(f"PVC child is created: {obj.metadata.name} ({size})")
    return {'pvcName': obj.metadata.name}


@kopf.on.update('kopf.dev', 'v1', 'ephemeralvolumeclaims', field='spec.size')
def update_fn(body, spec, name, namespace, logger, **kwargs):
    size = spec.get('size')
    if not size:
        raise kopf.PermanentError(f"Size must be set. Got {size!r}.")
    try:
        existing = api().read_namespaced_persistent_volume_claim(namespace=namespace, name=name)
    except kubernetes.client.ApiException as e:
        if e.status != 404:
            raise
        existing = create_or_adopt(body, name, namespace, size)
    if not is_ours(existing, body['metadata']['uid']):
        raise kopf.PermanentError(f"PVC {namespace}/{name} is not owned by this EVC; not resizing it")
    patch = {'spec': {'resources': {'requests': {'storage': size}}}}
    try:
        api().patch_namespaced_persistent_volume_claim(namespace=namespace, name=name, body=patch)
    except kubernetes.client.ApiException as e:
        if e.status == 422:
            raise kopf.TemporaryError(f"PVC {name} cannot be resized yet (is it bound?): {e.reason}", delay=RESIZE_RETRY)
        if e.status == 403:
            raise kopf.TemporaryError(
                f"PVC {name} cannot be resized (does its StorageClass allow expansion?): {e.reason}", delay=RESIZE_RETRY)
        raise
    logger.info(f"PVC child is updated: {name} to {size}")
    return {'pvcName': name, 'size': size}


if os.environ.get('BENCH_SPAWNED') == '1':
    # The idle scenario of long-lived work: a daemon that sleeps until it is stopped and a
    # timer every 60 s that does nothing, per EVC (kubefx-tuned adds the same).

    @kopf.daemon('kopf.dev', 'v1', 'ephemeralvolumeclaims', id='sleeper')
    async def sleeper(stopped, **kwargs):
        await stopped.wait()

    @kopf.timer('kopf.dev', 'v1', 'ephemeralvolumeclaims', id='tick', interval=60)
    async def tick(**kwargs):
        pass
