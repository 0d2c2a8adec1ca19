"""h2quarters.forecast: offline PV forecasts (clear sky × measured index → TRY climatology) and error metrics."""

from h2quarters.forecast.pv import (
                                    ClearSkyBlendForecaster,
                                    PersistenceForecaster,
                                    PVForecastProvider,
                                    clear_sky_pv_kw,
                                    evaluate_stored,
                                    forecast_errors,
)

__all__ = [
                                    "ClearSkyBlendForecaster",
                                    "PVForecastProvider",
                                    "PersistenceForecaster",
                                    "clear_sky_pv_kw",
                                    "evaluate_stored",
                                    "forecast_errors",
]
