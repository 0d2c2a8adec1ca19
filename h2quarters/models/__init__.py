"""Physical models: weather, PV, electrolyser, hydrogen storage and compression, fuel cell, battery, loads.

Pure, vectorised functions over numpy arrays / pandas Series with a thin object layer on top. Nothing here
knows about Modbus, Pyomo or HTTP.
"""
