"""Real ``h2q serve`` processes: one server per database, taken ports, private files, TLS, and ``kill -9``.

After a ``kill -9`` no worker survives the server, and the restarted controller neither resumes AUTO nor the
engineer's MANUAL by itself: it is SAFE, with an alarm saying what the mode and setpoints were, and the commands
left without a result are shown as an alarm until acknowledged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner
import psutil
import pytest

from h2quarters.cli import app
from h2quarters.store import Store
from h2quarters.store.instance import InstanceLock

from .conftest import SCENARIO

H2Q = str(Path(sys.executable).parent / "h2q")
CFG = ("cycle_s: 0.2\nwatchdog_timeout_ms: 2000\nlogin_rate_per_min: 1000\nmpc_horizon_h: 6\n"
       "replan_s: 3600\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(args: list[str], cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([H2Q, "serve", "--config", str(cfg), "--scenario", str(SCENARIO), "--plc-port", "0",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _serve_inproc(args: list[str], cfg: Path) -> Any:
    """``h2q serve`` in this process, for the paths that stop before anything starts (fast on a busy machine)."""
    return CliRunner().invoke(app, ["serve", "--config", str(cfg), "--scenario", str(SCENARIO), *args])


def _wait_started(proc: subprocess.Popen[str]) -> tuple[str, str | None]:
    """(URL, one-time admin password or None) once the server listens."""
    pw = None
    assert proc.stdout is not None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 90:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"h2q serve exited with {proc.poll()}")
        m = re.search(r"user: admin\s+password: (\S+)", line)
        if m:
            pw = m.group(1)
        m = re.match(r"Open (\S+)", line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return m.group(1), pw
    raise AssertionError("h2q serve did not start")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _self_signed(d: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    c, k = d / "cert.pem", d / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


def test_one_server_per_database_private_files_taken_ports_and_tls(tmp_path: Path) -> None:
    cfg = tmp_path / "control.yaml"
    cfg.write_text(CFG + "start_mode: \"off\"\n")
    data = tmp_path / "inst"
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    a = _serve(["--data-dir", str(data), "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)], cfg)
    try:
        url, pw = _wait_started(a)
        assert url.startswith("https://") and pw
        r = httpx.get(url + "api/health", verify=False, timeout=5)  # noqa: S501 - self-signed test certificate
        assert r.status_code == 200
        # database, WAL and lock are owner-only in an owner-only folder
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for f in ("h2q.db", "h2q.db-wal", "h2q.db.lock"):
            assert stat.S_IMODE((data / f).stat().st_mode) == 0o600, f

        # a second server on the same data directory stops and names the first one
        r = _serve_inproc(["--data-dir", str(data), "--port", "0"], cfg)
        assert r.exit_code == 3, r.output
        assert f"pid {a.pid}" in r.output and socket.gethostname() in r.output and "in use" in r.output
        # a taken web port is an error, never a silent move
        r = _serve_inproc(["--data-dir", str(tmp_path / "other"), "--port", str(port)], cfg)
        assert r.exit_code == 2 and f"port {port}" in r.output and "in use" in r.output
        # so is a taken Modbus port of the virtual PLC
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            taken = s.getsockname()[1]
            r = _serve_inproc(["--data-dir", str(tmp_path / "third"), "--port", "0", "--plc-port", str(taken)], cfg)
        assert r.exit_code == 2 and f"Modbus port {taken}" in r.output and "--plc-port" in r.output
    finally:
        _stop(a)
    # the lock dies with its holder: the next server on this data directory may start
    InstanceLock(f"sqlite:///{data / 'h2q.db'}").acquire().release()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_kill_9_leaves_no_orphans_and_restarts_safe_with_alarm(tmp_path: Path) -> None:
    cfg = tmp_path / "control.yaml"
    # a longer watchdog than the file's other tests: while the MPC worker starts on a busy machine a 2-s
    # controller stall tripped it (SAFE, so the MANUAL request below got 409); this test is about kill -9
    cfg.write_text(CFG.replace("watchdog_timeout_ms: 2000", "watchdog_timeout_ms: 10000") + "start_mode: auto\n")
    data = tmp_path / "inst"
    proc = _serve(["--data-dir", str(data), "--port", "0"], cfg)
    kids: list[psutil.Process] = []
    try:
        url, pw = _wait_started(proc)
        with httpx.Client(base_url=url, timeout=10) as c:
            h = {"Authorization": "Bearer " + c.post("/api/auth/login",
                                                     json={"name": "admin", "password": pw}).json()["access_token"]}
            t0 = time.monotonic()
            while len(kids) < 2:  # AUTO re-plans at once: the MPC worker and multiprocessing's resource tracker
                assert time.monotonic() - t0 < 60, f"no worker processes: {kids}"
                time.sleep(0.2)
                kids = _children(proc.pid)
            # while the MPC worker starts on a busy machine the server's own PLC link may be down for a moment
            # (409 link.down, a correct refusal): this test is about kill -9, so wait for the link, do not judge it
            for path, body in (("/api/mode", {"mode": "manual"}),
                               ("/api/setpoints", {"name": "ventilation_setpoint_pct", "value": 42.0})):
                t0 = time.monotonic()
                while (r := c.post(path, json=body, headers=h)).status_code == 409 and \
                        r.json().get("detail_code") == "link.down" and time.monotonic() - t0 < 30:
                    time.sleep(0.5)
                assert r.status_code == 200, r.text
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        t0 = time.monotonic()
        while any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kids):
            assert time.monotonic() - t0 < 10, f"orphans after kill -9: {[k.cmdline()[:3] for k in kids]}"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
    # a command audited but without result (as if the crash came between audit and PLC write)
    st = Store(f"sqlite:///{data / 'h2q.db'}")
    st.audit_command("crash-cmd-0001", "admin", "admin", "api", "setpoint", "ventilation_setpoint_pct", 50.0)
    st.close()

    proc2 = _serve(["--data-dir", str(data), "--port", "0", "--mode", "auto"], cfg)
    try:
        url, _ = _wait_started(proc2)
        with httpx.Client(base_url=url, timeout=10) as c:
            h = {"Authorization": "Bearer " + c.post("/api/auth/login",
                                                     json={"name": "admin", "password": pw}).json()["access_token"]}
            modes: list[str] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 4:  # never MANUAL or AUTO by itself, although --mode auto was asked
                s = c.get("/api/state", headers=h)
                if s.status_code == 200:
                    modes.append(s.json()["mode"])
                time.sleep(0.1)
            assert modes and modes[-1] == "safe" and set(modes) <= {"off", "safe"}, modes
            assert "unclean_restart" in c.get("/api/state", headers=h).json()["safe_reasons"]
            alarms: dict[str, Any] = {a["code"]: a for a in c.get("/api/alarms?active=true", headers=h).json()}
            un = alarms["unclean_restart"]
            assert un["params"]["mode"] == "manual" and un["params"]["setpoints"]["ventilation_setpoint_pct"] == 42.0
            assert "manual" in un["message"] and "ventilation_setpoint_pct = 42.0" in un["message"]
            cu = alarms["commands_unknown"]  # shown (active) until acknowledged
            assert cu["params"]["ids"] == ["crash-cmd-0001"] and cu["t_acked_ms"] is None
            assert c.get("/api/commands/crash-cmd-0001", headers=h).json()["status"] == "unknown"
            ack = c.post(f"/api/alarms/{cu['alarm_id']}/ack", headers=h)
            assert ack.status_code == 200
            assert "commands_unknown" not in {a["code"] for a in c.get("/api/alarms?active=true", headers=h).json()}
            audit = c.get("/api/audit?limit=50", headers=h).json()
            assert any(r["kind"] == "ack_alarm" and r["target"] == f"alarm:{cu['alarm_id']}" and r["status"] == "ok"
                       for r in audit)
            # the engineer's acknowledgement leaves SAFE to OFF — still not AUTO
            r = c.post("/api/safe/ack", json={}, headers=h)
            assert r.status_code == 200, r.text
            assert c.get("/api/state", headers=h).json()["mode"] == "off"
    finally:
        _stop(proc2)
    # a clean stop leaves no unclean mark: the next start applies its start mode again
    st = Store(f"sqlite:///{data / 'h2q.db'}")
    try:
        state = json.loads(st.get_meta("controller_state") or "{}")
    finally:
        st.close()
    assert state["running"] is False and state["mode"] == "off"


@pytest.mark.parametrize("opts,msg", [(["--tls-cert", "/nonexistent.pem"], "together"),
                                      (["--tls-cert", "/nonexistent.pem", "--tls-key", "/x.pem"], "not found")])
def test_tls_options_are_checked(tmp_path: Path, opts: list[str], msg: str) -> None:
    cfg = tmp_path / "control.yaml"
    cfg.write_text(CFG)
    r = _serve_inproc(["--data-dir", str(tmp_path), "--port", "0", *opts], cfg)
    assert r.exit_code == 2 and msg in r.output


def test_second_server_on_the_same_postgresql_database_is_refused(tmp_path: Path, pg_server: Any) -> None:
    """The instance lock on PostgreSQL (advisory lock, per database): a second server on the same database stops
    naming the first; another database on the same PostgreSQL server is free; a ``kill -9`` frees the lock."""
    from tests.conftest import fresh_pg_url

    cfg = tmp_path / "control.yaml"
    cfg.write_text(CFG + "start_mode: \"off\"\n")
    url, other = fresh_pg_url(pg_server), fresh_pg_url(pg_server)
    a = _serve(["--db", url, "--data-dir", str(tmp_path / "a"), "--port", "0"], cfg)
    try:
        _wait_started(a)
        r = _serve_inproc(["--db", url, "--data-dir", str(tmp_path / "b"), "--port", "0"], cfg)
        assert r.exit_code == 3, r.output
        assert "in use by another h2quarters server" in r.output and f"pid {a.pid}" in r.output, r.output
        assert socket.gethostname() in r.output and url.rsplit("/", 1)[1] in r.output
        InstanceLock(other).acquire().release()  # the lock is per database, not per PostgreSQL server
        kids = _children(a.pid)
        a.kill()  # kill -9: PostgreSQL ends the holder's session, the lock goes with it
        a.wait(10)
        end, free = time.monotonic() + 15, False
        while not free and time.monotonic() < end:
            try:
                InstanceLock(url).acquire().release()
                free = True
            except Exception:  # noqa: BLE001 - InstanceLocked until PostgreSQL notices the closed connection
                time.sleep(0.2)
        assert free, "lock still held 15 s after kill -9 of its holder"
    finally:
        _stop(a)
        for k in psutil.wait_procs(kids if "kids" in locals() else [], timeout=10)[1]:
            k.kill()  # the parent-death watch ends workers; never leave one behind if it did not
