"""h2quarters.forecast."""
