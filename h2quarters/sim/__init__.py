"""h2quarters.sim."""
