"""h2quarters.control: the runtime controller.

``controller`` (the asyncio loop: modes OFF/MANUAL/AUTO/SAFE, audited commands), ``supervisor`` (debounced
quality/link/interlock checks), ``planner`` (PV forecast + rolling MPC in a worker), ``hub`` (live snapshots for
the web app), ``writer`` (background store writes), ``runtime`` (virtual PLC + controller threads), ``settings``.
"""
