"""Replay of recorded plant data as a read-only exercise plant with a movable time cursor.

Sources: a CSV export (first column ISO timestamps, one column per signal; the simulator's ``timeseries.csv`` is
understood through :data:`SIM_COLUMNS`), or one day of the controller's store (``measurements`` table, read with
SELECTs only). Values between samples are interpolated linearly (counters and analogue values); before the first
and after the last sample the cursor is refused. Readings are recorded like on a live plant; setpoints are refused:
the past cannot be changed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from h2quarters.training.plant import _Recorder, _scenario

SIM_COLUMNS: dict[str, str] = {
    "ely_kw": "el_power_kw", "ely_i_a": "el_stack_current_a", "ely_u_cell_v": "el_cell_voltage_v",
    "ely_t_c": "el_electrolyte_temperature_c", "tank_p_bar": "tank_pressure_bar", "tank_m_kg": "tank_mass_kg",
    "pv_kw": "pv_power_kw", "fc_kw": "fc_power_kw", "compressor_kw": "compressor_power_kw", "load_kw": "load_power_kw",
}
"""Columns of ``h2q simulate``'s ``timeseries.csv`` → PLC signal names."""

_SIM_COUNTERS: dict[str, str] = {"ely_kw": "el_energy_kwh", "fc_kw": "fc_energy_kwh",
                                 "compressor_kw": "compressor_energy_kwh", "pv_kw": "pv_energy_kwh",
                                 "h2_produced_kg": "h2_to_tank_kg"}
"""Power (or per-step mass) columns of the simulator integrated into counters, as the plant's meters count."""


class ReadOnlyError(PermissionError):
    """A write to a replayed plant."""


class ReplayPlant(_Recorder):
    """Recorded data played back as a read-only plant.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tz-aware DatetimeIndex (increasing), one numeric column per signal.
    scenario : str
        Scenario the data belongs to (plant sizes for the reference answers).
    start : str or Timestamp, optional
        Initial cursor (default: the first sample).
    """

    kind = "replay"
    read_only = True
    display_digits = True

    def __init__(self, frame: pd.DataFrame, scenario: str = "oskar-von-miller",
                 start: str | pd.Timestamp | None = None) -> None:
        if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
            raise ValueError("replay data needs a tz-aware DatetimeIndex (ISO timestamps with offset)")
        if len(frame) < 2:
            raise ValueError(f"replay data needs at least 2 samples, got {len(frame)}")
        if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
            raise ValueError("replay timestamps must be strictly increasing")
        num = frame.apply(pd.to_numeric, errors="coerce")
        self.frame = num.dropna(axis=1, how="all")
        if self.frame.empty:
            raise ValueError("replay data holds no numeric signal column")
        self.scenario = _scenario(scenario)
        self.t0 = pd.Timestamp(self.frame.index[0])
        self._x = (self.frame.index - self.t0).total_seconds().to_numpy()
        self.span_s = float(self._x[-1])
        self._init_recorder(0, False, self.t0)
        self.t_s = 0.0
        self.t_offset_s = 0.0
        if start is not None:
            self.seek(start)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_csv(cls, path: str | Path, columns: dict[str, str] | None = None, tz: str = "Europe/Berlin",
                 **kw: Any) -> ReplayPlant:
        """Read a CSV export (first column timestamps). The simulator's columns are renamed to signal names and
        its powers integrated into meter counters; ``columns`` renames further columns."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: file not found")
        df = pd.read_csv(p, index_col=0)
        try:
            idx = pd.to_datetime(df.index, utc=False, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{p}: first column must hold ISO timestamps ({exc})") from None
        if getattr(idx, "tz", None) is None:
            idx = idx.tz_localize(tz)
        df.index = idx.tz_convert(tz)
        if "ely_kw" in df.columns:  # simulator output: add meter counters
            dt_h = np.diff(df.index.asi8, append=df.index.asi8[-1] + (df.index.asi8[-1] - df.index.asi8[-2])) / 3.6e12
            for col, counter in _SIM_COUNTERS.items():
                if col in df.columns:
                    per_step = df[col].to_numpy(float) * (dt_h if col.endswith("_kw") else 1.0)
                    df[counter] = np.concatenate([[0.0], np.cumsum(per_step)[:-1]])
            if "h2_to_tank_kg" in df.columns:  # the electrolyser's gas meter counts normal litres
                from h2quarters.models.constants import RHO_H2_NORMAL_KG_PER_M3

                df["el_h2_total_nl"] = df["h2_to_tank_kg"] / RHO_H2_NORMAL_KG_PER_M3 * 1000.0
            df = df.rename(columns=SIM_COLUMNS)
        if columns:
            df = df.rename(columns=columns)
        return cls(df, **kw)

    @classmethod
    def from_store(cls, url: Any, day: str, signals: list[str] | None = None, bucket_s: int = 10,
                   tz: str = "Europe/Berlin", **kw: Any) -> ReplayPlant:
        """One day (local midnight to midnight) of the controller's store, resampled to ``bucket_s``.

        ``url`` is a database URL (opened without creating tables) or an open :class:`~h2quarters.store.Store`
        (the server's own, left open). Only SELECT statements are issued.
        """
        from h2quarters.store.store import Store

        d0 = pd.Timestamp(day).tz_localize(tz) if pd.Timestamp(day).tzinfo is None else pd.Timestamp(day)
        d1 = d0 + pd.Timedelta(days=1)
        own = not isinstance(url, Store)
        st = Store(url, create=False) if own else url
        try:
            names = signals or sorted(st.signal_ids())
            if not names:
                raise ValueError(f"{url}: the store holds no signals")
            hist = st.history(names, int(d0.timestamp() * 1000), int(d1.timestamp() * 1000) - 1, bucket_s=bucket_s)
        finally:
            if own:
                st.close()
        cols = {}
        for name, h in hist.items():
            if h["t_ms"]:
                cols[name] = pd.Series(h["value"], index=pd.to_datetime(h["t_ms"], unit="ms", utc=True), dtype=float)
        if not cols:
            raise ValueError(f"{url}: no measurements on {d0.date()}")
        df = pd.DataFrame(cols).sort_index().interpolate(method="time", limit_direction="both")
        df.index = df.index.tz_convert(tz)
        return cls(df, **kw)

    # ------------------------------------------------------------------ cursor
    @property
    def time(self) -> pd.Timestamp:
        """Timestamp of the cursor."""
        return self.t0 + pd.Timedelta(seconds=self.t_s)

    def seek(self, when: str | pd.Timestamp | float) -> None:
        """Move the cursor to a timestamp or to seconds after the first sample (back and forth)."""
        if isinstance(when, (int, float)):
            t = float(when)
        else:
            ts = pd.Timestamp(when)
            ts = ts.tz_localize(self.t0.tz) if ts.tzinfo is None else ts
            t = (ts - self.t0).total_seconds()
        if not (math.isfinite(t) and 0.0 <= t <= self.span_s):
            raise ValueError(f"cursor {when!r} outside the recording [{self.t0}, "
                             f"{self.t0 + pd.Timedelta(seconds=self.span_s)}]")
        self.t_s = t

    def advance(self, dt_s: float) -> None:
        """Move the cursor forward (or back, with a negative ``dt_s``)."""
        self.seek(self.t_s + float(dt_s))

    def tick(self, wall_dt_s: float, speed: float = 1.0) -> None:
        """Play on by wall time times ``speed`` (stops at the end of the recording)."""
        self.t_s = min(self.t_s + wall_dt_s * speed, self.span_s)

    # ------------------------------------------------------------------ signals
    def signals(self) -> list[str]:
        """Recorded signals."""
        return list(self.frame.columns)

    def true_value(self, signal: str) -> float:
        """Recorded value at the cursor (linear interpolation between samples)."""
        col = self.frame[signal].to_numpy(float)
        ok = np.isfinite(col)
        if not ok.any():
            return math.nan
        return float(np.interp(self.t_s, self._x[ok], col[ok]))

    def write(self, signal: str, value: Any) -> None:
        """Refused: a replay is read-only."""
        raise ReadOnlyError(f"{signal} = {value!r} refused: recorded data is read-only (replay)")
