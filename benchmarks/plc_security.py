"""Benchmark of the PLC's teacher tools and login path (loopback, this machine).

1. Fault command latency: OPC UA connect + ``Faults.List`` + disconnect, in process (what ``h2q plc fault``
   does after its imports), development mode and production mode (Sign&Encrypt + user), p50/p95 over N calls;
   the import time of the CLI process is printed separately (it dominates a shell call).
2. Failed-login cost: ``PasswordUserManager.get_user`` for an unknown user and for a known user with a wrong
   password; the ratio unknown/known shows whether timing tells user names apart (1.0 = no).

Run: ``.venv/bin/python benchmarks/plc_security.py [--n 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from h2quarters.config import load_scenario
from h2quarters.plc.security import PasswordUserManager, add_user, ensure_client_certificate, load_users
from h2quarters.plc.settings import PlcSettings, Security
from h2quarters.plc.virtual_plc import VirtualPlc

ROOT = Path(__file__).resolve().parents[1]


async def _fault_calls(endpoint: str, n: int, secure: bool, cli: Path) -> list[float]:
    from asyncua import Client, ua
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = Client(endpoint, timeout=5)
        if secure:
            cert, key = await ensure_client_certificate(cli, "urn:h2quarters:driver")
            c.application_uri = "urn:h2quarters:driver"
            await c.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key),
                                 mode=ua.MessageSecurityMode.SignAndEncrypt)
            c.set_user("teacher")
            c.set_password("teacher-password")
        async with c:
            idx = await c.get_namespace_index("urn:h2quarters:plc")
            await c.get_node(ua.NodeId("Plant.Faults", idx)).call_method(ua.NodeId("Plant.Faults.List", idx), True)
        out.append(time.perf_counter() - t0)
    return out


async def main(n: int) -> None:
    sc = load_scenario(ROOT / "scenarios" / "oskar-von-miller")
    with tempfile.TemporaryDirectory() as tmp:
        users = Path(tmp) / "users.yaml"
        add_user(users, "teacher", "teacher-password", role="instructor")
        for mode in ("development", "production"):
            sec = Security(mode=mode, cert_dir=Path(tmp) / "pki", users_file=users,
                           trusted_certs=[Path(tmp) / "cli" / "client_cert.der"])
            plc = VirtualPlc(sc, PlcSettings(modbus_port=0, opcua_port=0, security=sec))
            await plc.start(modbus=False)
            try:
                ts = np.array(await _fault_calls(plc.opcua_endpoint, n, mode == "production", Path(tmp) / "cli"))
            finally:
                await plc.stop()
            print(f"fault command (connect + Faults.List + disconnect), {mode:<11}: p50 {np.median(ts):.3f} s, "
                  f"p95 {np.percentile(ts, 95):.3f} s (n={n})")
        um = PasswordUserManager(load_users(users))

        def cost(name: str) -> float:
            ts = []
            for _ in range(7):
                t0 = time.perf_counter()
                um.get_user(None, username=name, password="wrong-password")
                ts.append(time.perf_counter() - t0)
            return float(np.median(ts))

        known, unknown = cost("teacher"), cost("nobody")
        print(f"failed login: known user {known * 1e3:.1f} ms, unknown user {unknown * 1e3:.1f} ms, "
              f"ratio unknown/known {unknown / known:.2f} (before the fix: 0.8 ms / 45 ms = 0.02)")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import h2quarters.cli, asyncua"], check=True)
    print(f"CLI process start + imports (h2quarters.cli, asyncua): {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    asyncio.run(main(ap.parse_args().n))
