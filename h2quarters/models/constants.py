"""Physical constants used across the models (SI unless the name says otherwise).

Sources: CODATA 2018 (F, R); hydrogen heating values and density as in ``shared/reference/electrolyser.md``
(Enapter handbook): LHV 33.33 kWh/kg, HHV 39.41 kWh/kg, 0.08988 g/L at 0 °C, 1.01325 bar.
"""

F_C_PER_MOL: float = 96485.33212
"""Faraday constant in C/mol."""
R_J_PER_MOL_K: float = 8.314462618
"""Molar gas constant in J/(mol K)."""
M_H2_KG_PER_MOL: float = 2.01588e-3
"""Molar mass of H2 in kg/mol."""
LHV_H2_KWH_PER_KG: float = 33.33
"""Lower heating value of hydrogen in kWh/kg."""
HHV_H2_KWH_PER_KG: float = 39.41
"""Higher heating value of hydrogen in kWh/kg."""
RHO_H2_NORMAL_KG_PER_M3: float = 0.08988
"""Density of H2 at normal conditions (0 °C, 1.01325 bar) in kg/m³ (= g/L)."""
T_ZERO_K: float = 273.15
"""0 °C in kelvin."""
U_TN_V: float = 1.481
"""Thermoneutral cell voltage at 25 °C (HHV / 2F) in V."""
