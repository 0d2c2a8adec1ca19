"""``h2q plc``: run the virtual PLC, inject faults, manage OPC UA users, generate the register-map page."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from h2quarters.cli import app
from h2quarters.config import DEFAULT_SCENARIO

if TYPE_CHECKING:
    from h2quarters.plc.settings import PlcSettings

plc_app = typer.Typer(help="Virtual PLC (Modbus TCP + OPC UA) and plant drivers.", invoke_without_command=True,
                      no_args_is_help=False)
fault_app = typer.Typer(help="Fault injection (teachers, robustness tests).", no_args_is_help=True)
plc_app.add_typer(fault_app, name="fault")
app.add_typer(plc_app, name="plc")


@plc_app.callback()
def run(
    ctx: typer.Context,
    speed: Annotated[float | None, typer.Option(help="Plant seconds per wall-clock second (1 = real time).")] = None,
    scenario: Annotated[Path, typer.Option(help="Scenario directory or YAML.")] = DEFAULT_SCENARIO,
    modbus_port: Annotated[int | None, typer.Option(help="Modbus TCP port (default 5020; 0 = any free port).")] = None,
    opcua_port: Annotated[int | None, typer.Option(help="OPC UA port (default 4840; 0 = any free port).")] = None,
    config: Annotated[Path | None, typer.Option(help="PLC settings YAML (h2quarters.plc.settings.PlcSettings).")] = None,
    bind: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    dev: Annotated[bool, typer.Option("--dev", help="Development mode: OPC UA without security (loopback only).")] = False,
    users_file: Annotated[Path | None, typer.Option(help="OPC UA users file (production mode).")] = None,
    start: Annotated[str | None, typer.Option(help="Plant start time, e.g. 2025-06-21T08:00 (default: now).")] = None,
    state_file: Annotated[Path | None, typer.Option(
        help="Plant state snapshot (default: per-user data dir, one file per scenario).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start from the scenario's initial state, not the "
                                                        "saved one (the snapshot is overwritten).")] = False,
) -> None:
    """Run the virtual PLC (when no sub-command is given)."""
    if ctx.invoked_subcommand is not None:
        return
    from pydantic import ValidationError

    from h2quarters.config import load_scenario
    from h2quarters.plc.virtual_plc import VirtualPlc

    try:
        settings = _settings(config, speed, modbus_port, opcua_port, bind, start, dev, users_file)
        sc = load_scenario(scenario)
        if settings.state_path is None or state_file is not None:
            settings = settings.model_copy(update={"state_path": state_file or default_state_path(sc.name)})
    except (ValidationError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    quiet_logging()

    async def main() -> None:
        plc = VirtualPlc(sc, settings, fresh=fresh)
        await plc.start()
        state = (f"restored from {settings.state_path}" if plc.restored
                 else f"initial state (saved to {settings.state_path})")
        typer.echo(f"virtual PLC '{sc.name}' speed {settings.speed:g}x: Modbus tcp://{settings.bind_host}:"
                   f"{plc.modbus_port} (units: electrolyser 1, plant 2), OPC UA {plc.opcua_endpoint} "
                   f"[{settings.security.mode}]; plant {state}"
                   + (f"; local fault channel {plc.fault_channel.path}" if plc.fault_channel else ""), err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await plc.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def default_state_path(scenario_name: str) -> Path:
    """Per-user location of the plant snapshot: ``$XDG_DATA_HOME/h2quarters/plc-state-<scenario>.json``."""
    import os
    import re

    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "h2quarters" / f"plc-state-{re.sub(r'[^A-Za-z0-9_.-]+', '-', scenario_name)}.json"


def quiet_logging() -> None:
    """INFO for h2quarters, WARNING for the protocol libraries (asyncua logs every node and request at INFO)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _settings(config: Path | None, speed: float | None, modbus_port: int | None,
              opcua_port: int | None, bind: str | None, start: str | None, dev: bool,
              users_file: Path | None) -> PlcSettings:
    """Settings file (or defaults) with command-line overrides, validated as a whole."""
    from h2quarters.plc.settings import PlcSettings, load_plc_settings

    settings = load_plc_settings(config)
    upd: dict[str, object] = {}
    for key, val in (("speed", speed), ("modbus_port", modbus_port), ("opcua_port", opcua_port),
                     ("bind_host", bind), ("start", start)):
        if val is not None:
            upd[key] = val
    sec = settings.security.model_copy(update={k: v for k, v in (("mode", "development" if dev else None),
                                                                  ("users_file", users_file)) if v is not None})
    return PlcSettings.model_validate({**settings.model_dump(), **upd, "security": sec.model_dump()})


@plc_app.command("docs")
def docs(out: Annotated[Path, typer.Option(help="Output file.")] = Path("docs/register-map.md")) -> None:
    """Generate the register-map page from register_map.yaml."""
    from h2quarters.plc.docs import write_docs

    typer.echo(str(write_docs(out)))


@plc_app.command("add-user")
def add_user_cmd(name: str, users_file: Annotated[Path, typer.Option(help="Users file to create/extend.")],
                 role: Annotated[str, typer.Option(help="admin or operator")] = "operator") -> None:
    """Add an OPC UA user (password asked twice; stored as scrypt hash)."""
    from h2quarters.plc.security import add_user

    pw = getpass.getpass("password: ")
    if pw != getpass.getpass("again: "):
        typer.echo("error: the two passwords differ; nothing written", err=True)
        raise typer.Exit(2)
    try:
        add_user(users_file, name, pw, role)
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}; nothing written", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {name} ({role}) written to {users_file}")


CLIENT_PKI = Path("~/.local/share/h2quarters/client-pki")


@plc_app.command("trust")
def trust_cmd(
    cert: Annotated[Path | None, typer.Argument(help="Client certificate (DER or PEM) to trust; default: this "
                                                     "user's h2q client certificate (created if missing).")] = None,
    config: Annotated[Path | None, typer.Option(help="PLC settings YAML (for security.cert_dir/trust_dir).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the trusted certificates instead.")] = False,
    remove: Annotated[str | None, typer.Option(help="Remove the certificate with this fingerprint prefix.")] = None,
) -> None:
    """Manage the OPC UA client-certificate trust list of the PLC (production mode refuses unknown clients)."""
    from h2quarters.plc.opcua_hardening import _read_cert, fingerprint
    from h2quarters.plc.settings import load_plc_settings

    try:
        sec = load_plc_settings(config).security
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    trust_dir = Path(sec.trust_dir or Path(sec.cert_dir) / "trusted").expanduser()
    if list_ or remove:
        files = sorted(trust_dir.glob("*.der")) if trust_dir.is_dir() else []
        for f in files:
            fp = fingerprint(f.read_bytes())
            if remove and fp.startswith(remove.lower()):
                f.unlink()
                typer.echo(f"removed {fp} ({f.name})")
            elif list_:
                typer.echo(f"{fp}  {f}")
        return
    if cert is None:
        from h2quarters.plc.security import ensure_client_certificate

        cert, _ = asyncio.run(ensure_client_certificate(CLIENT_PKI, "urn:h2quarters:driver"))
    der = _read_cert(cert.expanduser())
    if der is None:
        typer.echo(f"error: {cert} is not a readable DER or PEM certificate", err=True)
        raise typer.Exit(2)
    fp = fingerprint(der)
    trust_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (trust_dir / f"{fp[:32]}.der").write_bytes(der)
    typer.echo(f"trusted {fp} in {trust_dir} (takes effect for new connections, no restart needed)")


@fault_app.command("kinds")
def fault_kinds() -> None:
    """List the fault kinds and what each does."""
    from h2quarters.plc.faults import catalogue_text

    typer.echo(catalogue_text())


def _opcua_call(endpoint: str, user: str | None, password: str | None, dev: bool, via: str, method: str,
                *args: tuple[str, object]) -> object:
    """Call ``Plant.Faults.<method>`` on the PLC at ``endpoint`` (``args`` as ``(type, value)`` pairs).

    ``via``: ``local`` = the PLC's local fault channel (Unix-domain socket, no asyncua import), ``opcua`` = OPC UA,
    ``auto`` = local when the PLC runs on this machine and its socket is found, else OPC UA.
    """
    if via not in ("auto", "local", "opcua"):
        typer.echo(f"error: --via {via!r} unknown; allowed: auto, local, opcua", err=True)
        raise typer.Exit(2)
    if not dev and password is None:
        password = getpass.getpass("OPC UA password: ")
    reply: dict[str, object] | None = None
    if via != "opcua":
        from h2quarters.plc.fault_socket import find_socket, request

        path, why = find_socket(endpoint)
        if path is not None:
            reply = request(path, {"method": method, "args": [list(a) for a in args], "user": user,
                                   "password": password, "dev": dev})
            if reply.get("error") in ("unreachable", "busy") and via == "auto":
                reply = None  # e.g. the socket of a killed PLC: OPC UA says what is (not) there
        if via == "local" and reply is None:
            typer.echo(f"error: cannot reach the PLC at {endpoint} locally: {why}", err=True)
            raise typer.Exit(3)
    if reply is None:
        from h2quarters.plc.fault_client import run

        reply = run({"endpoint": endpoint, "user": user, "password": password, "dev": dev, "method": method,
                     "args": [list(a) for a in args], "client_pki": str(CLIENT_PKI)})
    for w in reply.get("warnings", None) or []:  # type: ignore[union-attr]
        typer.echo(f"warning: {w}", err=True)
    if reply.get("error") == "refused":
        typer.echo(f"error: the PLC refused {method}: {reply['message']}", err=True)
        raise typer.Exit(2)
    if reply.get("error"):
        typer.echo(f"error: cannot reach the PLC at {endpoint}: {reply['message']}", err=True)
        raise typer.Exit(3)
    return reply["result"]


_EP_DEFAULT = "opc.tcp://127.0.0.1:4840/h2quarters/plc"
_EP = Annotated[str, typer.Option(help="OPC UA endpoint of the PLC.")]
_VIA = Annotated[str, typer.Option(help="auto: the PLC's local fault channel (Unix socket) when it runs on this "
                                        "machine, else OPC UA; local; opcua.")]


@fault_app.command("inject")
def fault_inject(kind: str, target: Annotated[str, typer.Option(help="Signal name (sensor faults) or protocol.")] = "",
                 value: Annotated[float | None, typer.Option(help="Fault value (see `h2q plc fault kinds`).")] = None,
                 hidden: Annotated[bool, typer.Option("--hidden", help="Hide the fault from the plant view.")] = False,
                 endpoint: _EP = _EP_DEFAULT, user: str | None = None, password: str | None = None,
                 dev: Annotated[bool, typer.Option("--dev")] = False, via: _VIA = "auto") -> None:
    """Inject a fault into a running virtual PLC (local fault channel or OPC UA)."""
    fid = _opcua_call(endpoint, user, password, dev, via, "Inject", ("String", kind), ("String", target),
                      ("Double", math.nan if value is None else float(value)), ("Boolean", hidden))
    typer.echo(f"fault {fid} injected: {kind} {target} {'' if value is None else value}".rstrip())


@fault_app.command("clear")
def fault_clear(fault_id: Annotated[int, typer.Argument(help="Fault id; 0 = all.")] = 0, endpoint: _EP = _EP_DEFAULT,
                user: str | None = None, password: str | None = None,
                dev: Annotated[bool, typer.Option("--dev")] = False, via: _VIA = "auto") -> None:
    """Remove a fault (or all)."""
    n = _opcua_call(endpoint, user, password, dev, via, "Clear", ("UInt32", fault_id))
    typer.echo(f"{n} fault(s) cleared")


@fault_app.command("list")
def fault_list(endpoint: _EP = _EP_DEFAULT, user: str | None = None, password: str | None = None,
               dev: Annotated[bool, typer.Option("--dev")] = False,
               all_: Annotated[bool, typer.Option("--all", help="Include hidden faults.")] = False,
               via: _VIA = "auto") -> None:
    """List active faults of a running virtual PLC."""
    out = _opcua_call(endpoint, user, password, dev, via, "List", ("Boolean", all_))
    for f in json.loads(str(out)):
        typer.echo(f"{f['id']:>3} {f['kind']:<20} target={f['target']} value={f['value']} hidden={f['hidden']}"
                   f"\n    {f['does']}")
