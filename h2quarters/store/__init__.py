"""h2quarters.store."""
