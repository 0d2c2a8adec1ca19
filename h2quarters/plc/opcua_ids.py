"""OPC UA names shared by the PLC's server and its clients: namespace URI and node ids.

A module of its own so clients (``h2q plc fault ...``, the OPC UA driver) can address nodes without importing
the server and the plant models behind it (CoolProp alone takes seconds to import on a busy machine).
"""

from __future__ import annotations

from asyncua import ua

NAMESPACE_URI = "urn:h2quarters:plc"


def node_id(name: str, idx: int) -> ua.NodeId:
    """String NodeId ``ns=idx;s=name``."""
    return ua.NodeId(ua.String(name), ua.Int16(idx))
