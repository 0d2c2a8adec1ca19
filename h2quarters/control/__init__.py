"""h2quarters.control."""
