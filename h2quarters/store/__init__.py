"""h2quarters.store: durable storage (SQLAlchemy Core; SQLite WAL by default, PostgreSQL by URL)."""

from h2quarters.store.store import CommandRecord, Store, now_ms

__all__ = ["CommandRecord", "Store", "now_ms"]
