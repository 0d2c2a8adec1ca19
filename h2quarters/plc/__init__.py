"""h2quarters.plc: both sides of the wire to the plant.

- :mod:`~h2quarters.plc.registers` / ``register_map.yaml``: the register map as data (Modbus tables and
  addresses compatible with the Enapter EL 2.1 interface, plant-PLC signals, OPC UA nodes, units, limits);
  ``docs/register-map.md`` is generated from it (``h2q plc docs``).
- :mod:`~h2quarters.plc.plant`: the plant state behind the virtual PLC (foundation models, meters, room gas
  model) with the PLC's own safety functions (heartbeat watchdog, latched interlocks, e-stop).
- :mod:`~h2quarters.plc.modbus_server`, :mod:`~h2quarters.plc.opcua_server`,
  :mod:`~h2quarters.plc.virtual_plc`: the virtual PLC (``h2q plc``) serving one plant over Modbus TCP and OPC UA.
- :mod:`~h2quarters.plc.faults`: fault injection (``h2q plc fault ...``).
- :mod:`~h2quarters.plc.drivers`: async Modbus and OPC UA drivers behind one interface, with quality flags.
- :mod:`~h2quarters.plc.security`, :mod:`~h2quarters.plc.settings`: security profile and PLC settings.
"""
