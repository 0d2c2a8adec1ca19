"""h2quarters.api: the FastAPI app (plant state, history, live stream, audited commands, alarms, plan, users)."""
