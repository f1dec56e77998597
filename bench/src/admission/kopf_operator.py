"""
The Kopf side of the admission benchmark: one validating handler, the same rule as
operator.ts's (a Probe's spec.size above 100 is refused with 422), served by Kopf's own
WebhookServer over HTTPS with the harness's certificate, its configuration managed by Kopf.
"""
import os

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    certs = os.environ["WEBHOOK_CERT_DIR"]
    settings.admission.server = kopf.WebhookServer(
        addr="127.0.0.1",
        port=int(os.environ["WEBHOOK_PORT"]),
        certfile=os.path.join(certs, "tls.crt"),
        pkeyfile=os.path.join(certs, "tls.key"),
        cafile=os.path.join(certs, "ca.crt"),
    )
    settings.admission.managed = "probes.bench.kubefx.dev"
    settings.posting.enabled = False


@kopf.on.validate("bench.kubefx.dev", "v1", "probes", id="size-limit", operation="CREATE")
async def size_limit(spec, **_):
    size = spec.get("size", 0)
    if size > 100:
        raise kopf.AdmissionError(f"size {size} is above 100", code=422)
