"""h2quarters.opt."""
