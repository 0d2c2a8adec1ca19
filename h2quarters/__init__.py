"""h2quarters: simulate, optimise and control a PV-hydrogen lab and scale it to a city quarter."""

__version__ = "0.1.0"
