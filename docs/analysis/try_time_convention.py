"""Evidence for docs/try-time-convention.md: where the TRY2010 region 07 radiation sits in time.

Run: .venv/bin/python docs/analysis/try_time_convention.py   (about a minute; reads the raw file as
hour-ending MEZ, the former reading, and compares it with the sun's geometry and a clear-sky model).
"""
import numpy as np, pandas as pd, pvlib
from h2quarters.models.weather import _read_try_raw, try_path, KASSEL_TRY_LATITUDE_DEG as LAT, KASSEL_TRY_LONGITUDE_DEG as LON
raw = _read_try_raw(str(try_path(7)))
ghi = (raw.B + raw.D).to_numpy()
# label time of each row, hour-ending MEZ: interval [HH-1, HH) MEZ, midpoint HH-0.5 MEZ
date = pd.to_datetime(dict(year=2025, month=raw.MM.astype(int), day=raw.DD.astype(int)))
mid_mez_h = raw.HH.to_numpy() - 0.5
# reference: extraterrestrial horizontal irradiance binned the same way, at 1-min resolution
t1 = pd.date_range("2025-01-01 00:00", "2026-01-01 00:00", freq="1min", inclusive="left", tz="Etc/GMT-1")
sp = pvlib.solarposition.ephemeris(t1, LAT, LON)
ext = pvlib.irradiance.get_extra_radiation(t1)
g0 = np.maximum(np.cos(np.radians(sp["zenith"].to_numpy())), 0) * ext.to_numpy()
g0h = g0.reshape(-1, 60).mean(1)  # hour k covers [k, k+1) MEZ -> hour-ending HH=k+1
# solar noon per day (MEZ hours)
days = pd.date_range("2025-01-01", periods=365, freq="D", tz="Etc/GMT-1")
eot = np.asarray(pvlib.solarposition.equation_of_time_spencer71(days.dayofyear))  # minutes
noon = 12 + (15 - LON) / 15 - eot / 60
def centroid(v, h):
    v = v.reshape(365, 24); return (v * h.reshape(365,24)).sum(1) / v.sum(1), v.sum(1)
hh = np.tile(np.arange(24) + 0.5, 365)
c_data, w = centroid(ghi, hh)
c_ref, _ = centroid(g0h, hh)
off = c_data - c_ref   # positive: data later than geometry as read
month = days.month
print("year mean offset (data centroid - extraterrestrial centroid), h, weighted:", np.average(off, weights=w))
for m in range(1, 13):
    s = month == m
    print(m, f"offset {np.average(off[s], weights=w[s]):+.3f} h   EoT {eot[s].mean():+.1f} min   WOZ-hypothesis shift {-(0.37 - eot[s].mean()/60):+.3f}")
# correlation of monthly offset with EoT
mo = np.array([np.average(off[month==m], weights=w[month==m]) for m in range(1,13)])
me = np.array([eot[month==m].mean() for m in range(1,13)])
print("corr(offset, EoT)", np.corrcoef(mo, me)[0,1], "slope h per h of EoT", np.polyfit(me/60, mo, 1))
# midpoint of radiation span (first/last hour with ghi>0)
g = ghi.reshape(365,24)
first = np.array([np.flatnonzero(r>0)[0] if (r>0).any() else np.nan for r in g]); last=np.array([np.flatnonzero(r>0)[-1] if (r>0).any() else np.nan for r in g])
mid = (first + last + 1)/2
print("span midpoint - solar noon (as read), mean h:", np.nanmean(mid - noon))
# shifts tested: fit offset s so that the data shifted by s best matches clear sky
# clear-sky fit: Ineichen clear-sky GHI at 1-min resolution, binned to [HH-1+s, HH+s) MEZ
loc = pvlib.location.Location(LAT, LON, altitude=231, tz="Etc/GMT-1")
t2 = pd.date_range("2024-12-31 22:00", "2026-01-01 02:00", freq="1min", inclusive="left", tz="Etc/GMT-1")
cs = loc.get_clearsky(t2, model="ineichen")["ghi"].to_numpy()
base = np.flatnonzero(t2 == pd.Timestamp("2025-01-01 00:00", tz="Etc/GMT-1"))[0]
kt = ghi / np.maximum(cs[base:base + 525600].reshape(-1, 60).mean(1), 1)
res = []
for s_min in range(-60, 91, 5):
    start = base + s_min
    ref = cs[start:start + 525600].reshape(-1, 60).mean(1)
    clear = (ref > 50) & (kt > 0.75) & (kt < 1.2)
    res.append((s_min / 60, np.corrcoef(ghi[clear], ref[clear])[0, 1], np.sqrt(np.mean((ghi[clear] - ref[clear])**2)), clear.sum()))
for r in res: print(f"shift {r[0]:+.2f} h corr {r[1]:.4f} rmse {r[2]:.1f} W/m2 n={r[3]}")
print("--- clear days selected by daily clearness (independent of shift)")
ref0 = cs[base:base + 525600].reshape(365, -1).sum(1) / 60
kd = ghi.reshape(365, 24).sum(1) / ref0
clear_day = np.repeat(kd > 0.7, 24)
print("clear days:", (kd > 0.7).sum())
best = None
for s_min in range(-30, 91, 5):
    ref = cs[base + s_min: base + s_min + 525600].reshape(-1, 60).mean(1)
    sel = clear_day & ((ref > 0) | (ghi > 0))
    rmse = np.sqrt(np.mean((ghi[sel] - ref[sel])**2)); c = np.corrcoef(ghi[sel], ref[sel])[0,1]
    print(f"shift {s_min/60:+.2f} h corr {c:.4f} rmse {rmse:.1f}")
# per-clear-day symmetry: centroid offset for clear days only
print("clear-day centroid offset (h):", np.average(off[kd > 0.7], weights=w[kd > 0.7]))
print("winter (Nov-Feb) centroid offset:", np.average(off[np.isin(month,[11,12,1,2])], weights=w[np.isin(month,[11,12,1,2])]))
