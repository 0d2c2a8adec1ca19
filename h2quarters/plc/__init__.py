"""h2quarters.plc."""
