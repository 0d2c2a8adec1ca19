"""``h2q serve`` (virtual PLC + controller + web HMI) and ``h2q user add``."""

from __future__ import annotations

import getpass
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from h2quarters.cli import app
from h2quarters.config import DEFAULT_SCENARIO

user_app = typer.Typer(help="Users of the web HMI and API.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no conflict
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Web port on 127.0.0.1 (0 = any free port).")] = 8000,
    plc: Annotated[str | None, typer.Option(help="Real PLC as tcp://host:port (Modbus TCP); default: start "
                                                     "the virtual PLC in this process.")] = None,
    scenario: Annotated[Path, typer.Option(help="Scenario directory or YAML.")] = DEFAULT_SCENARIO,
    config: Annotated[Path | None, typer.Option(help="Controller settings YAML "
                                                        "(h2quarters.control.settings.ControlSettings).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory of this instance (database, lock); "
                                                       "default ~/.local/share/h2quarters/<site>.")] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: SQLite h2q.db in the data directory).")]
    = None,
    mode: Annotated[str | None, typer.Option(help="Start mode: off, manual or auto (default auto).")] = None,
    plc_port: Annotated[int | None, typer.Option(help="Modbus port of the virtual PLC (0 = any free port; "
                                                      "default from the settings, 5020).")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM): serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM) of --tls-cert.")] = None,
    plant_speed: Annotated[float, typer.Option(help="Virtual plant time per wall-clock second (1 = real time; "
                                                    "soak tests run faster).", min=0.01, max=1000.0)] = 1.0,
    fresh_plant: Annotated[bool, typer.Option(help="Start the virtual plant from the scenario's initial state "
                                                   "(the saved state is kept as plant-state.json.bak).")] = False,
) -> None:
    """Start the virtual PLC (or connect to a real one), the controller and the web HMI; print the URL.

    One server per database: a second server on the same database stops with a message naming the first
    (pid, host, start time). Taken ports are errors (0 = any free port)."""
    import uvicorn

    from h2quarters.api.app import create_app
    from h2quarters.api.auth import ensure_admin
    from h2quarters.config import ScenarioError, load_scenario
    from h2quarters.control.runtime import Runtime, parse_plc_url
    from h2quarters.control.settings import load_control_settings
    from h2quarters.store import Store
    from h2quarters.store.instance import InstanceLock, InstanceLocked, default_data_dir, private_dir

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_control_settings(config)
        sc = load_scenario(scenario)
    except (ScenarioError, ValueError, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if (tls_cert is None) != (tls_key is None):
        typer.echo("--tls-cert and --tls-key must be given together", err=True)
        raise typer.Exit(2)
    for opt, f in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if f is not None and not f.is_file():
            typer.echo(f"{opt}: file {f} not found", err=True)
            raise typer.Exit(2)
    ddir = private_dir(data_dir or default_data_dir(sc.name))
    upd: dict[str, object] = {"port": port if port else _free_port(settings.host)}
    if db:
        upd["db_url"] = db
    elif "db_url" not in settings.model_fields_set:  # the settings file did not name a database: the data dir's
        upd["db_url"] = f"sqlite:///{ddir / 'h2q.db'}"
    if plc_port is not None:
        upd["plc_port"] = plc_port
    if mode:
        if mode not in ("off", "manual", "auto"):
            typer.echo(f"--mode: value {mode!r} not allowed; choose off, manual or auto", err=True)
            raise typer.Exit(2)
        upd["start_mode"] = mode
    virtual = plc is None
    if plc is not None:
        try:
            host, pport = parse_plc_url(plc)
        except ValueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        upd.update({"plc_host": host, "plc_port": pport, "driver": "modbus"})
    settings = settings.model_validate({**settings.model_dump(), **upd})
    if not _port_free(settings.host, settings.port):
        typer.echo(f"port {settings.port} on {settings.host} is in use; choose another with --port", err=True)
        raise typer.Exit(2)
    if virtual and settings.plc_port and not _port_free(settings.plc_host, settings.plc_port):
        # never move silently: a controller or SCADA configured for this port would talk to another plant
        typer.echo(f"Modbus port {settings.plc_port} on {settings.plc_host} (virtual PLC) is in use; choose "
                   "another with --plc-port (0 = any free port)", err=True)
        raise typer.Exit(2)
    lock = InstanceLock(settings.db_url)
    try:
        lock.acquire()
    except InstanceLocked as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None
    os.umask(0o077)  # everything this server creates from here (WAL, keys, plant state) is owner-only

    # the control loop shares the interpreter with the web server: hand the GIL over sooner (default 5 ms) so a
    # waking control cycle is not held up behind request handling
    sys.setswitchinterval(0.001)
    store = Store(settings.db_url)
    lock.record_holder(store)
    pw = ensure_admin(store)
    if pw is not None:
        typer.echo("=" * 72)
        typer.echo("First start: created the local administrator. This password is shown ONCE:")
        typer.echo(f"    user: admin    password: {pw}")
        typer.echo("Create engineers with: h2q user add NAME --role engineer")
        typer.echo("=" * 72)
    plc_settings = None
    if virtual:
        from h2quarters.plc.settings import PlcSettings

        # the plant's physical state (tank, counters, degradation, latched trips) lives in the instance's data
        # directory: a tank does not empty when its PLC reboots
        state_file = ddir / "plant-state.json"
        if fresh_plant and state_file.exists():
            kept = state_file.with_suffix(".json.bak")
            state_file.replace(kept)
            typer.echo(f"--fresh-plant: previous plant state kept as {kept}")
        plc_settings = PlcSettings(bind_host=settings.plc_host, modbus_port=settings.plc_port,
                                   watchdog_timeout_ms=settings.watchdog_timeout_ms, speed=plant_speed,
                                   state_path=state_file)
    rt = Runtime(settings, sc, virtual_plc=virtual, store=store, plc_settings=plc_settings,
                 serve_opcua=virtual).start()
    web = create_app(store, rt.hub, rt.rmap, settings, controller=rt.controller, scenario=sc)
    where = f"virtual PLC Modbus tcp://{settings.plc_host}:{rt.plc_port}" if virtual else f"PLC {plc}"
    if virtual and rt.plc is not None and rt.plc.opcua is not None:
        where += f", OPC UA {rt.plc.opcua_endpoint} [{rt.plc.opcua.settings.security.mode}]"
    typer.echo(f"h2quarters: {sc.name}, {where}, controller start mode {settings.start_mode}, "
               f"database {store.dialect}, data directory {ddir}")
    url = f"{'https' if tls_cert else 'http'}://{settings.host}:{settings.port}/"

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
            await super().startup(sockets=sockets)
            if self.started:  # print the URL only once the socket listens, so opening it never fails
                typer.echo(f"Open {url}  (API docs: {url}api/docs)")
                sys.stdout.flush()

    cfg = uvicorn.Config(web, host=settings.host, port=settings.port, log_level="warning",
                         limit_concurrency=settings.limit_concurrency, timeout_keep_alive=15,
                         server_header=False, timeout_graceful_shutdown=3,
                         # client addresses (login throttling, logs) from X-Forwarded-For only behind the
                         # reverse proxies named in the settings; never from arbitrary clients
                         proxy_headers=bool(settings.forwarded_allow_ips),
                         forwarded_allow_ips=",".join(settings.forwarded_allow_ips) or None,
                         ssl_certfile=str(tls_cert) if tls_cert else None,
                         ssl_keyfile=str(tls_key) if tls_key else None)
    try:
        _Server(cfg).run()
    finally:
        rt.stop()
        lock.release()


def _user_db(db: str | None, data_dir: Path | None, config: Path | None, scenario: Path) -> str:
    """The database a user command works on: ``--db``, else the settings file's, else the data directory's."""
    from h2quarters.control.settings import load_control_settings
    from h2quarters.store.instance import default_data_dir

    if db:
        return db
    s = load_control_settings(config)
    if "db_url" in s.model_fields_set:
        return s.db_url
    if data_dir is None:
        from h2quarters.config import load_scenario

        data_dir = default_data_dir(load_scenario(scenario).name)
    return f"sqlite:///{data_dir.expanduser() / 'h2q.db'}"


DbOpt = Annotated[str | None, typer.Option(help="Database URL (default: the data directory's).")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Data directory (default ~/.local/share/h2quarters/<site>).")]
ConfigOpt = Annotated[Path | None, typer.Option(help="Controller settings YAML.")]
ScenarioOpt = Annotated[Path, typer.Option(help="Scenario (names the default data directory).")]


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, - _ .).")],
    role: Annotated[str, typer.Option(help="admin, engineer, teacher, student, planner, city or viewer.")] = "viewer",
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create a user; the password is asked twice (or read from stdin), hashed with argon2."""
    from h2quarters.api.auth import add_user
    from h2quarters.store import Store

    url = _user_db(db, data_dir, config, scenario)
    if password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    else:
        pw = getpass.getpass("password: ")
        if pw != getpass.getpass("again: "):
            typer.echo("passwords differ", err=True)
            raise typer.Exit(2)
    store = Store(url)
    try:
        add_user(store, name, role, pw)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(f"user {name} ({role}) created")


@user_app.command("list")
def user_list(db: DbOpt = None, data_dir: DataDirOpt = None, config: ConfigOpt = None,
              scenario: ScenarioOpt = DEFAULT_SCENARIO) -> None:
    """List users (name, role, active)."""
    from h2quarters.store import Store

    store = Store(_user_db(db, data_dir, config, scenario))
    try:
        for u in store.list_users():
            typer.echo(f"{u['name']:<24} {u['role']:<10} {'active' if u['active'] else 'disabled'}")
    finally:
        store.close()


@user_app.command("set")
def user_set(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str | None, typer.Option(help="New role.")] = None,
    active: Annotated[bool | None, typer.Option("--enable/--disable", help="Enable or disable the account.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the account.")] = False,
    db: DbOpt = None, data_dir: DataDirOpt = None, config: ConfigOpt = None,
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
) -> None:
    """Change a user's role, disable/enable or delete it; sessions of the user are revoked (a running server
    sees a disabled or changed account within 5 s)."""
    from h2quarters.api import auth as A
    from h2quarters.store import Store

    store = Store(_user_db(db, data_dir, config, scenario))
    try:
        if delete:
            A.delete_user(store, name)
        else:
            A.update_user(store, name, role=role, active=active)
        store.revoke_sessions(user_name=name)
    except KeyError:
        typer.echo(f"user {name!r} not found", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(f"user {name} {'deleted' if delete else 'updated'}")
