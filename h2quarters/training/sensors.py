"""Noise and resolution model of the lab's instruments, so that readings look like a real lab's.

A reading of a signal with true value ``x`` is::

    y = round_to_resolution( x + N(0, sigma_abs) + x * N(0, sigma_rel) )

with one seeded generator per exercise plant (so a learner's run is reproducible from its seed, and two seeds
differ). Counters (energy, hydrogen totals) carry only their display resolution: a meter's counter does not jitter
between readings, its error is the last digit. The numbers are typical class values of lab instruments, named per
signal below; ``docs/exercises.md`` lists them and the tolerance calibration that rests on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sensor:
    """Instrument model of one signal: Gaussian noise (absolute, relative) and display resolution."""

    sigma_abs: float = 0.0
    sigma_rel: float = 0.0
    resolution: float = 0.0
    instrument: str = ""
    lo: float | None = None

    def read(self, true_value: float, rng: np.random.Generator) -> float:
        """One reading of ``true_value`` (NaN and non-numbers pass unchanged)."""
        x = float(true_value)
        if not math.isfinite(x):
            return x
        y = x
        if self.sigma_abs > 0.0:
            y += float(rng.normal(0.0, self.sigma_abs))
        if self.sigma_rel > 0.0:
            y += x * float(rng.normal(0.0, self.sigma_rel))
        return self.display(y)

    def display(self, y: float) -> float:
        """``y`` clipped to the display's lower end and rounded to its resolution."""
        if not math.isfinite(y):
            return y
        if self.lo is not None and y < self.lo:
            y = self.lo  # a detector or ammeter that cannot show less (no negative %LEL)
        if self.resolution > 0.0:
            y = round(y / self.resolution) * self.resolution
            # keep the printed digits clean (0.1 * 3 = 0.30000000000000004)
            digits = max(0, -int(math.floor(math.log10(self.resolution))))
            y = round(y, digits)
        return y


SENSORS: dict[str, Sensor] = {
    # electrolyser (DC side): clamp meter / shunt and voltmeter of the lab bench
    "el_stack_current_a": Sensor(0.05, 0.002, 0.01, "DC current clamp, ±0.2 % ± 0.05 A, 10 mA digits"),
    "el_cell_voltage_v": Sensor(0.001, 0.0005, 0.001, "cell voltage tap, ±0.05 % ± 1 mV, 1 mV digits"),
    "el_stack_voltage_v": Sensor(0.01, 0.0005, 0.01, "DC voltmeter, ±0.05 % ± 10 mV, 10 mV digits"),
    "el_electrolyte_temperature_c": Sensor(0.15, 0.0, 0.1, "Pt100 class B transmitter, σ 0.15 K, 0.1 K digits"),
    "el_power_kw": Sensor(0.002, 0.002, 0.001, "power analyser class 0.2, ±0.2 % ± 2 W, 1 W digits"),
    "el_h2_flow_nlh": Sensor(0.5, 0.01, 0.1, "thermal mass flow meter, ±1 % ± 0.5 NL/h"),
    "el_h2_total_nl": Sensor(0.0, 0.0, 0.1, "flow totaliser, 0.1 NL digits"),
    "el_energy_kwh": Sensor(0.0, 0.0, 0.001, "energy meter, 1 Wh digits"),
    "compressor_energy_kwh": Sensor(0.0, 0.0, 0.001, "energy meter, 1 Wh digits"),
    "compressor_power_kw": Sensor(0.002, 0.005, 0.001, "power meter, ±0.5 % ± 2 W"),
    "fc_energy_kwh": Sensor(0.0, 0.0, 0.001, "energy meter, 1 Wh digits"),
    "fc_power_kw": Sensor(0.002, 0.005, 0.001, "power meter, ±0.5 % ± 2 W"),
    "fc_h2_kg_per_h": Sensor(0.0002, 0.01, 0.0001, "mass flow meter, ±1 % ± 0.2 g/h"),
    "pv_power_kw": Sensor(0.01, 0.005, 0.01, "inverter display, ±0.5 % ± 10 W"),
    "pv_energy_kwh": Sensor(0.0, 0.0, 0.01, "inverter counter, 10 Wh digits"),
    "grid_import_kw": Sensor(0.01, 0.005, 0.001, "grid meter, ±0.5 % ± 10 W, 1 W digits", lo=0.0),
    "grid_export_kw": Sensor(0.01, 0.005, 0.001, "grid meter, ±0.5 % ± 10 W, 1 W digits", lo=0.0),
    "h2_to_tank_kg": Sensor(0.0, 0.0, 0.0001, "Coriolis totaliser, 0.1 g digits"),
    "h2_from_tank_kg": Sensor(0.0, 0.0, 0.0001, "Coriolis totaliser, 0.1 g digits"),
    "tank_pressure_bar": Sensor(0.03, 0.0, 0.01, "precision pressure transmitter, σ 0.03 bar, 0.01 bar digits"),
    "tank_mass_kg": Sensor(0.0, 0.0, 0.001, "weighing scale of the bundle, 1 g digits"),
    "h2_detector_lel_pct": Sensor(0.2, 0.0, 0.1, "catalytic H2 detector, σ 0.2 %LEL", lo=0.0),
    # fuel-cell bench
    "u_v": Sensor(0.005, 0.0005, 0.001, "bench voltmeter, ±0.05 % ± 5 mV, 1 mV digits"),
    "u1_v": Sensor(0.005, 0.0005, 0.001, "bench voltmeter, ±0.05 % ± 5 mV"),
    "u2_v": Sensor(0.005, 0.0005, 0.001, "bench voltmeter, ±0.05 % ± 5 mV"),
    "i_a": Sensor(0.01, 0.002, 0.01, "bench ammeter, ±0.2 % ± 10 mA"),
    "i1_a": Sensor(0.01, 0.002, 0.01, "bench ammeter, ±0.2 % ± 10 mA"),
    "i2_a": Sensor(0.01, 0.002, 0.01, "bench ammeter, ±0.2 % ± 10 mA"),
}
"""Instrument model per signal; signals not listed are read exactly (states, counters of events, setpoints)."""

EXACT = Sensor()


def sensor_for(signal: str) -> Sensor:
    """The instrument model of ``signal`` (exact reading when none is listed)."""
    return SENSORS.get(signal, EXACT)
