"""Checks of a quarter that need more than its own YAML file, run before any long computation.

:func:`h2quarters.quarter.config.load_quarter` validates the file itself (types, ranges, unknown keys). What
only the grid or the hydrogen site can tell — is the SimBench code known, is every building's bus in that grid
and on its low-voltage side, does the hydrogen site load — is checked here, in seconds, and reported the same
way: one :class:`~h2quarters.config.loader.Problem` per finding, with the YAML path and line of the quarter file.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from h2quarters.config.loader import ConfigError, Problem, _line_index
from h2quarters.quarter.config import Quarter

LV_MAX_KV = 1.0  # buildings connect to the low-voltage side (EN 50160 LV: Un ≤ 1 kV)


def _lines(q: Quarter) -> dict[tuple[str | int, ...], int]:
    f = q.source_file
    if f is None or not Path(f).is_file():
        return {}
    return _line_index(Path(f).read_text(encoding="utf-8"))


def known_simbench_codes() -> list[str]:
    """Every SimBench code the installed ``simbench`` package ships (version 1)."""
    import simbench as sb

    return list(sb.collect_all_simbench_codes())


def check_quarter(q: Quarter) -> None:
    """Check the grid code, every building's bus and the hydrogen site file.

    Raises
    ------
    h2quarters.config.ConfigError
        One problem per finding, each naming the YAML path, its line, the value and what is allowed.
    """
    lines = _lines(q)
    source = str(q.source_file or "quarter")
    problems: list[Problem] = []

    site = q.resolve(q.hydrogen_site)
    if not site.is_file():
        problems.append(Problem("hydrogen_site", lines.get(("hydrogen_site",)),
                                f"file not found: {site}"))
    else:
        from h2quarters.config import load_scenario

        try:
            load_scenario(site)
        except ConfigError as exc:
            problems.append(Problem("hydrogen_site", lines.get(("hydrogen_site",)),
                                    f"{site} does not load: " + "; ".join(str(p) for p in exc.problems)))

    codes = known_simbench_codes()
    if q.grid.code not in codes:
        near = difflib.get_close_matches(q.grid.code, codes, n=3, cutoff=0.5)
        lv = [c for c in codes if "-LV-" in c and c.endswith("-sw")][:4]
        problems.append(Problem("grid.code", lines.get(("grid", "code")),
                                f"'{q.grid.code}' is not a SimBench code; "
                                + (f"did you mean {near}? " if near else "")
                                + f"low-voltage codes are e.g. {lv}"))
        raise ConfigError(source, problems)

    from h2quarters.quarter.grid import source_net

    net = source_net(q.grid.code)
    vn = {str(n): float(v) for n, v in zip(net.bus.name, net.bus.vn_kv)}
    lv_buses = sorted(n for n, v in vn.items() if v <= LV_MAX_KV)
    for i, b in enumerate(q.buildings):
        where = ("buildings", i, "bus")
        if b.bus not in vn:
            near = difflib.get_close_matches(b.bus, lv_buses, n=3, cutoff=0.6)
            problems.append(Problem(f"buildings[{i}].bus", lines.get(where),
                                    f"building '{b.name}': bus '{b.bus}' is not in grid {q.grid.code}; "
                                    + (f"did you mean {near}? " if near else "")
                                    + f"low-voltage buses are '{lv_buses[0]}' … '{lv_buses[-1]}'"))
        elif vn[b.bus] > LV_MAX_KV:
            problems.append(Problem(f"buildings[{i}].bus", lines.get(where),
                                    f"building '{b.name}': bus '{b.bus}' is a {vn[b.bus]:g} kV bus; buildings "
                                    f"connect to the low-voltage side (≤ {LV_MAX_KV:g} kV), e.g. '{lv_buses[0]}'"))
    if problems:
        raise ConfigError(source, problems)
