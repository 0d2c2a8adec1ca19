"""Settings of the controller runtime and the web app (YAML, unknown keys are errors).

Kept apart from the site scenario: they say how the plant is *operated* (cycle, leases, debouncing, driver, database,
network), not what it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from h2quarters.config.loader import load_yaml_model
from h2quarters.plc.settings import is_loopback


class ControlSettings(BaseModel):
    """Controller, store and web-app settings.

    Defaults follow ``shared/reference/safety-and-security.md``: debounced link loss (``link_debounce_polls``
    failed polls → FAULT, SAFE and alarm), setpoint leases, exponential back-off up to 30 s (OpenEMS), a PLC
    watchdog several cycles long, write interfaces bound to loopback unless configured otherwise.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- loop -----------------------------------------------------------------------------------------------
    cycle_s: Annotated[float, Field(gt=0.01, le=60.0)] = Field(1.0, description="Control cycle (s).")
    start_mode: Literal["off", "manual", "auto"] = Field("auto", description="Mode after start-up.")
    link_debounce_polls: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="Consecutive failed polls before the link counts as lost (FAULT → SAFE + alarm).")
    invalid_debounce_polls: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="Consecutive invalid readings of a critical signal before SAFE.")
    lease_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = Field(
        900.0, description="Lease of manual setpoints (s): without a refresh the controller goes SAFE.")
    watchdog_timeout_ms: Annotated[int, Field(ge=100, le=600_000)] = Field(
        5000, description="PLC heartbeat watchdog written at connect (ms); must exceed several cycles.")

    # --- driver ---------------------------------------------------------------------------------------------
    driver: Literal["modbus", "opcua"] = Field("modbus", description="Plant protocol.")
    plc_host: str = Field("127.0.0.1", description="PLC host (Modbus TCP).")
    plc_port: Annotated[int, Field(ge=0, le=65535)] = Field(5020, description="PLC Modbus TCP port.")
    opcua_endpoint: str = Field("opc.tcp://127.0.0.1:4840/h2quarters/plc", description="PLC OPC UA endpoint.")
    opcua_user: str | None = Field(None, description="OPC UA user name.")
    opcua_password_env: str = Field("H2Q_OPCUA_PASSWORD", description="Environment variable with its password.")
    opcua_secure: bool = Field(True, description="Basic256Sha256 Sign&Encrypt.")
    opcua_cert_dir: Path = Field(Path("~/.local/share/h2quarters/client-pki"),
                                 description="Client certificate and key (created on first use).")
    driver_timeout_s: Annotated[float, Field(gt=0.0, le=30.0)] = Field(0.5, description="Request timeout (s).")
    backoff_min_s: Annotated[float, Field(gt=0.0, le=60.0)] = Field(0.5, description="First reconnect delay (s).")
    backoff_max_s: Annotated[float, Field(gt=0.0, le=600.0)] = Field(30.0, description="Longest reconnect delay (s).")

    # --- AUTO -----------------------------------------------------------------------------------------------
    replan_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = Field(900.0, description="Re-plan interval (s).")
    mpc_horizon_h: Annotated[float, Field(gt=0.5, le=168.0)] = Field(24.0, description="MPC horizon (h).")
    plan_worker: Literal["process", "thread"] = Field(
        "process", description="Where the optimiser runs (never in the control loop).")
    forecast_tau_h: Annotated[float, Field(gt=0.0, le=48.0)] = Field(3.0, description="Forecast blend constant (h).")
    forecast_window_min: Annotated[float, Field(gt=0.0, le=600.0)] = Field(60.0, description="Recent window (min).")

    # --- store ----------------------------------------------------------------------------------------------
    db_url: str = Field("sqlite:///~/.local/share/h2quarters/h2q.db", description="Database URL.")
    store_every_cycles: Annotated[int, Field(ge=1, le=3600)] = Field(1, description="Store every n-th cycle.")
    raw_keep_days: Annotated[float, Field(gt=0.0, le=3650.0)] = Field(
        7.0, description="Raw 1-s data is kept this long (≈250 MB/day in SQLite), then downsampled to 1-min "
                         "mean/min/max (≈2 GB/year).")
    retention_every_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = Field(3600.0, description="Retention run (s).")

    # --- web ------------------------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Web app bind address.")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(8000, description="Web app port.")
    allow_remote: bool = Field(False, description="Allow binding the web app to a non-loopback address.")
    token_ttl_s: Annotated[int, Field(ge=60, le=7 * 86_400)] = Field(8 * 3600, description="Session lifetime (s).")
    limit_concurrency: Annotated[int, Field(ge=1, le=10_000)] = Field(200, description="uvicorn connection limit.")
    max_body_bytes: Annotated[int, Field(ge=256, le=10_000_000)] = Field(65_536, description="Request body limit.")
    login_rate_per_min: Annotated[int, Field(ge=1, le=10_000)] = Field(20, description="Logins per IP and minute.")
    login_fail_per_account: Annotated[int, Field(ge=1, le=1000)] = Field(
        5, description="Failed logins per account within login_lock_s before the account is locked for that time "
                       "(independent of the client address: a proxy or botnet cannot spread the guesses).")
    login_lock_s: Annotated[float, Field(ge=1.0, le=86_400.0)] = Field(
        300.0, description="Window and duration of the per-account login lock (s).")
    forwarded_allow_ips: list[str] = Field(
        default_factory=list, description="Reverse proxies (IPs/CIDRs) whose X-Forwarded-For/-Proto headers are "
                                          "trusted; empty = use the TCP peer address.")

    # planners' jobs (h2quarters.jobs): a local Dask cluster started on first use, or an existing scheduler
    jobs_scheduler: str | None = Field(None, description="Address of an existing Dask scheduler for planners' jobs "
                                                         "(tcp://host:port); default a local cluster.")
    jobs_workers: Annotated[int, Field(ge=1, le=64)] = Field(1, description="Worker processes of the local cluster.")
    jobs_max_active: Annotated[int, Field(ge=1, le=100)] = Field(2, description="Queued/running jobs per user.")
    jobs_max_per_day: Annotated[int, Field(ge=1, le=10_000)] = Field(30, description="Jobs a user starts per day.")
    jobs_max_variants: Annotated[int, Field(ge=1, le=10_000)] = Field(16, description="Variants per job.")
    jobs_nice: Annotated[int, Field(ge=0, le=19)] = Field(10, description="CPU niceness of the job workers (the "
                                                                         "controller and HMI keep priority).")

    @model_validator(mode="after")
    def _checks(self) -> ControlSettings:
        if self.watchdog_timeout_ms < 2000 * self.cycle_s:
            raise ValueError(f"watchdog_timeout_ms = {self.watchdog_timeout_ms} must be at least two cycles "
                             f"(≥ {int(2000 * self.cycle_s)} ms for cycle_s = {self.cycle_s})")
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(f"host = {self.host!r} is not a loopback address; set allow_remote: true to serve "
                             "the web app on a network (then put TLS in front)")
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError(f"backoff_min_s ({self.backoff_min_s}) must not exceed backoff_max_s "
                             f"({self.backoff_max_s})")
        return self


def load_control_settings(path: Path | None) -> ControlSettings:
    """Load settings from YAML (``None`` → defaults); errors name the YAML path, line, value and range."""
    if path is None:
        return ControlSettings()
    return load_yaml_model(path, ControlSettings)
