"""One call of a ``Plant.Faults`` method on a running PLC over OPC UA: the work behind ``h2q plc fault inject``,
``clear`` and ``list`` when the PLC is on another machine or serves no local fault channel
(:mod:`h2quarters.plc.fault_socket`, which needs no asyncua import).

Also runnable as a process of its own (``python -m h2quarters.plc.fault_client``: one JSON request line on stdin,
one JSON reply line on stdout; nothing on stdin, nothing done), which a CLI could start before importing typer so
that importing asyncua (≈0.6–1 s) and typer with its pydantic adapters (≈0.3 s) overlap on two cores. Measured on
a busy machine this costs more than it saves (benchmarks/cli_start.py), so ``h2q`` calls :func:`run` in-process.

Production (Sign&Encrypt): the client certificate is created once; the PLC's certificate is pinned on first use,
so later calls skip the endpoint discovery round trip (a second connection). If the PLC's certificate changed
(new PKI), the call pins the new one and says so in its warnings.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from asyncua import Client, ua  # imported at once: this is what the helper process is for

from h2quarters.plc.opcua_ids import NAMESPACE_URI, node_id

LOGIN_REFUSED = ("BadUserAccessDenied", "BadIdentityTokenInvalid", "BadIdentityTokenRejected",
                 "BadCertificateUntrusted", "BadSecurityPolicyRejected")
"""Refusals that are about the client (user, password, its certificate), not about a changed PLC certificate."""

VARIANT_TYPES = {"String": ua.VariantType.String, "Double": ua.VariantType.Double,
                 "Boolean": ua.VariantType.Boolean, "UInt32": ua.VariantType.UInt32}
"""Argument types of the fault methods, named in requests as ``[type, value]`` pairs."""


def pinned_server_cert(client_pki: Path, endpoint: str) -> Path:
    """Where the PLC certificate of ``endpoint`` seen first is kept (trust on first use)."""
    return client_pki.expanduser() / "servers" / f"{hashlib.sha256(endpoint.encode()).hexdigest()[:32]}.der"


async def _call(req: dict[str, Any], server_der: bytes | None) -> tuple[Any, bytes | None]:
    endpoint, pki = req["endpoint"], Path(req["client_pki"]).expanduser()
    client = Client(endpoint, timeout=5)
    client.session_timeout = 30_000  # one call; the server grants at most its own maximum anyway
    if not req["dev"]:
        from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
        from asyncua.crypto.uacrypto import CertProperties

        cert, key = pki / "client_cert.der", pki / "client_key.pem"
        if not (cert.is_file() and key.is_file()):
            from h2quarters.plc.security import ensure_client_certificate

            cert, key = await ensure_client_certificate(pki, "urn:h2quarters:driver")
        client.application_uri = "urn:h2quarters:driver"
        mode = ua.MessageSecurityMode.SignAndEncrypt
        if server_der is None:  # first call to this endpoint: ask for its certificate (None channel)
            eps = await client.connect_and_get_server_endpoints()
            server_der = Client.find_endpoint(eps, mode, SecurityPolicyBasic256Sha256.URI).ServerCertificate
        # contents, not paths: asyncua would read the files through anyio's thread pool (≈0.1 s more)
        await client.set_security(SecurityPolicyBasic256Sha256, CertProperties(cert.read_bytes(), "der"),
                                  CertProperties(key.read_bytes(), "pem"), server_certificate=server_der, mode=mode)
        client.set_user(req["user"] or "")
        client.set_password(req["password"] or "")
    args = [ua.Variant(value, VARIANT_TYPES[vtype]) for vtype, value in req["args"]]
    async with client:
        idx = await client.get_namespace_index(NAMESPACE_URI)
        faults = client.get_node(node_id("Plant.Faults", idx))
        return await faults.call_method(node_id(f"Plant.Faults.{req['method']}", idx), *args), server_der


async def call(req: dict[str, Any]) -> tuple[Any, list[str]]:
    """Run the request; (the method's result, warnings). Raises ``ua.UaError``, ``OSError`` or ``TimeoutError``.

    ``req``: ``endpoint``, ``user``, ``password``, ``dev`` (no security), ``method`` (Inject/Clear/List), ``args``
    (``[type, value]`` pairs, types of :data:`VARIANT_TYPES`), ``client_pki`` (directory of the client
    certificate and the pinned PLC certificates).
    """
    warnings: list[str] = []
    pinned = pinned_server_cert(Path(req["client_pki"]), req["endpoint"])
    known = pinned.read_bytes() if not req["dev"] and pinned.is_file() else None
    try:
        out, seen = await _call(req, known)
    except (ua.UaError, OSError, TimeoutError) as exc:
        if known is None or any(code in str(exc) for code in LOGIN_REFUSED):
            raise
        out, seen = await _call(req, None)  # refused with the pinned certificate: has the PLC a new one?
        if seen != known and seen is not None:
            from h2quarters.plc.opcua_hardening import fingerprint

            warnings.append(f"the PLC at {req['endpoint']} has a new certificate (SHA-256 {fingerprint(seen)}); "
                            f"pinned it in {pinned}")
    if not req["dev"] and seen is not None and seen != known:
        pinned.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pinned.write_bytes(seen)
    return out, warnings


def run(req: dict[str, Any]) -> dict[str, Any]:
    """:func:`call` with its outcome as a JSON-ready reply: ``{"result", "warnings"}`` or ``{"error": "refused" |
    "unreachable", "message", "warnings"}``."""
    logging.getLogger("asyncua").setLevel(logging.ERROR)  # refusals are reported by the caller, once
    try:
        out, warnings = asyncio.run(call(req))
    except ua.UaStatusCodeError as exc:
        return {"error": "refused", "message": f"{type(exc).__name__} ({exc})", "warnings": []}
    except (TimeoutError, OSError) as exc:
        return {"error": "unreachable", "message": repr(exc), "warnings": []}
    except ua.UaError as exc:  # e.g. no Sign&Encrypt endpoint: a production call to a PLC in development mode
        from h2quarters.plc.fault_socket import NO_SECURE_ENDPOINT

        msg = NO_SECURE_ENDPOINT if "No matching endpoints" in str(exc) else f"{type(exc).__name__} ({exc})"
        return {"error": "mode", "message": msg, "warnings": []}
    return {"result": out, "warnings": warnings}


def main() -> None:
    """Helper process: one JSON request line on stdin, one JSON reply line on stdout."""
    line = sys.stdin.readline()
    if not line.strip():
        return  # the CLI did not need us
    sys.stdout.write(json.dumps(run(json.loads(line))) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
