"""KPI monitoring for the city (Smart-Kassel chapter 9): catalogue as data, rating and roll-up over the four
levels, pre-computed energy aggregates in the store, hand-entered values with audit, exports and the quarterly
PDF report. The cockpit pages and JSON endpoints (``h2quarters.api.routes_kpi``) are thin layers over it."""
