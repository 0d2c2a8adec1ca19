"""Login throttling behind a real reverse proxy (Debian's nginx on loopback, own config, no service).

``h2q serve`` trusts X-Forwarded-For only from the proxies in ``forwarded_allow_ips``. Behind nginx each client
is throttled by its own address (one attacker does not lock out everyone); a client that talks to the server
directly cannot pick its address with a forged header; and the per-account lock holds whatever addresses the
guesses come from. Loopback addresses stand in for hosts: nginx connects upstream from 127.0.0.3 (the trusted
proxy), clients connect from 127.0.0.5 and up.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

from .test_instances import _free_port, _serve, _stop, _wait_started

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PROXY_IP, PROXY_SRC = "127.0.0.2", "127.0.0.3"
CONF = """daemon off;
master_process off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen {ip}:{port};
    location / {{
      proxy_pass http://127.0.0.1:{app};
      proxy_bind {src};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""


def _client(src: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=src), timeout=30)


def _login(base: str, src: str, name: str, password: str, forged: str | None = None) -> tuple[int, str]:
    headers = {"X-Forwarded-For": forged} if forged else {}
    with _client(src) as c:
        r = c.post(base + "/api/auth/login", json={"name": name, "password": password}, headers=headers)
    d = r.json().get("detail") if r.status_code != 200 else None
    return r.status_code, (d or {}).get("code", "") if isinstance(d, dict) else ""


def test_login_throttling_per_client_and_per_account_behind_nginx(tmp_path: Path) -> None:
    assert Path(NGINX).is_file(), "nginx missing: run `bash scripts/ensure-test-peers.sh`"
    app_port, proxy_port = _free_port(), _free_port()
    cfg = tmp_path / "control.yaml"
    cfg.write_text("cycle_s: 0.2\nwatchdog_timeout_ms: 2000\nmpc_horizon_h: 6\nreplan_s: 3600\n"
                   "start_mode: \"off\"\nlogin_rate_per_min: 3\nlogin_fail_per_account: 3\nlogin_lock_s: 300\n"
                   f"forwarded_allow_ips: [\"{PROXY_SRC}\"]\n")
    ndir = tmp_path / "nginx"
    ndir.mkdir()
    (ndir / "nginx.conf").write_text(CONF.format(d=ndir, ip=PROXY_IP, port=proxy_port, app=app_port, src=PROXY_SRC))
    server = _serve(["--data-dir", str(tmp_path / "data"), "--port", str(app_port)], cfg)
    nginx = subprocess.Popen([NGINX, "-p", str(ndir), "-c", str(ndir / "nginx.conf"), "-e", str(ndir / "error.log")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _, pw = _wait_started(server)
        assert pw
        proxy, direct = f"http://{PROXY_IP}:{proxy_port}", f"http://127.0.0.1:{app_port}"
        for _ in range(100):  # nginx listening?
            with socket.socket() as s:
                if s.connect_ex((PROXY_IP, proxy_port)) == 0:
                    break
            time.sleep(0.1)
        # one client behind the proxy exhausts its own per-address budget ...
        assert [_login(proxy, "127.0.0.5", f"nobody{i}", "wrong-password") for i in range(3)] == \
            [(401, "login.wrong")] * 3
        assert _login(proxy, "127.0.0.5", "nobody9", "wrong-password") == (429, "login.rate_ip")
        # ... and cannot escape it by sending its own X-Forwarded-For through the proxy (nginx appends the real one)
        assert _login(proxy, "127.0.0.5", "nobody9", "wrong-password", forged="198.51.100.7") == \
            (429, "login.rate_ip")
        # another client behind the same proxy is not locked out
        assert _login(proxy, "127.0.0.6", "admin", pw) == (200, "")
        # a client talking to the server directly (not a trusted proxy): its forged header is ignored
        got = [_login(direct, "127.0.0.1", f"x{i}", "wrong-password", forged=f"203.0.113.{i}") for i in range(4)]
        assert got == [(401, "login.wrong")] * 3 + [(429, "login.rate_ip")], got
        # per account: three wrong passwords from three addresses lock the account, also for a fourth address
        # with the right password
        for src in ("127.0.0.7", "127.0.0.8", "127.0.0.9"):
            assert _login(proxy, src, "admin", "wrong-password") == (401, "login.wrong")
        assert _login(proxy, "127.0.0.10", "admin", pw) == (429, "login.locked")
    finally:
        nginx.terminate()
        nginx.wait(10)
        _stop(server)
    assert "emerg" not in (ndir / "error.log").read_text()
