"""CAM5-like climate samples in the DeepCAM HDF5 format (generator ``"cam5"``).

Introduced in notebook 05. The real DeepCAM set (8.8 TB of CAM5 0.25° model
output labelled by TECA and a TMQ flood-fill detector) cannot be shipped, so
this generator writes files **laid out exactly as the benchmark's**
(``data-YYYY-MM-DD-HH-R.h5``; ``climate/data`` H x W x 16 float32 in the
reference channel order, ``climate/labels_0`` and ``labels_1`` H x W float32
with 0 background, 1 tropical cyclone, 2 atmospheric river, plus the
``data_stats`` and ``labels_*_stats`` tables) on the CAM5 grid (latitude −90 →
+90 ascending, longitude 0 → 359.6875°; ``size`` gives coarser grids with the
same extent).

What is in a sample (synthetic, physically motivated, not model output):

- a zonal-mean climate: moist, warm tropics and dry, cold poles; trade winds
  and mid-latitude westerlies; subtropical highs and sub-polar lows; a fixed
  idealised orography (surface pressure lower over the mountains) and smooth
  random weather noise;
- **tropical cyclones** (label 1) between 7° and 30° latitude: a sea-level
  pressure minimum (20–70 hPa deep), a moisture and precipitation maximum, a
  warm core aloft (T500, T200), and winds that turn **counter-clockwise in the
  northern hemisphere and clockwise in the southern** (cyclonic), strongest at
  the radius of maximum wind;
- **atmospheric rivers** (label 2): long (2000–6000 km), narrow (≈ 500 km)
  plumes of water vapour leaving the tropics towards the poles and east, with
  the low-level wind (hence vapour transport) along the plume.

Every value is clipped to the real ``stats.h5`` per-channel [minval, maxval]
range, so the benchmark's min–max normalisation maps samples into [0, 1].
Labels come from the geometry of the imposed features (``labels_1``: a wider,
"relaxed" AR threshold), not from TECA or a flood fill.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..utils import atomic_path
from .base import Sample, SyntheticGenerator, register

CHANNELS = ("TMQ", "U850", "V850", "UBOT", "VBOT", "QREFHT", "PS", "PSL", "T200", "T500", "PRECT", "TS",
            "TREFHT", "Z1000", "Z200", "ZBOT")
UNITS = ("kg/m²", "m/s", "m/s", "m/s", "m/s", "kg/kg", "Pa", "Pa", "K", "K", "m/s", "K", "K", "m", "m", "m")
LABELS = ("background", "tropical cyclone", "atmospheric river")
REFERENCE_SIZE = (768, 1152)

# Per-channel [minval, maxval] of the real train-split stats.h5 (reference/deepcam.md section 3.2).
STATS_MIN = np.array([2.614459e-02, -8.833799e+01, -8.462094e+01, -7.856367e+01, -7.772218e+01, 7.330156e-12,
                      4.833079e+04, 8.759543e+04, 1.835764e+02, 2.083827e+02, -7.185958e-19, 1.096427e+02,
                      9.419403e+01, -3.758444e-01, 9.952041e+03, 2.036258e+01], dtype=np.float32)
STATS_MAX = np.array([1.089972e+02, 8.585688e+01, 8.937128e+01, 7.675983e+01, 8.053201e+01, 1.456389e-01,
                      1.072502e+05, 1.120394e+05, 2.482864e+02, 2.860136e+02, 3.734879e-05, 3.526187e+02,
                      3.317965e+02, 5.726140e+03, 1.290524e+04, 7.167753e+01], dtype=np.float32)

_KM_PER_DEG = 111.2
# Idealised mountain ranges: (lon, lat, sigma_lon, sigma_lat, height m)
_MOUNTAINS = ((87.0, 33.0, 12.0, 5.0, 4500.0), (250.0, 42.0, 5.0, 12.0, 2200.0), (290.0, -20.0, 3.0, 18.0, 3500.0),
              (30.0, -80.0, 180.0, 8.0, 2800.0), (320.0, 72.0, 12.0, 8.0, 2500.0))


def cam5_grid(size=REFERENCE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (ascending −90 → 90) and longitudes (0 → 360 exclusive) of the CAM5 grid at `size`.

    At the reference size (768, 1152) these equal the real ``lat_lon.pkl`` (step 180/767° and 0.3125°).
    """
    h, w = size
    return np.linspace(-90.0, 90.0, h), np.arange(w) * (360.0 / w)


def load_grid_pickle(path) -> tuple[np.ndarray, np.ndarray]:
    """Read the real CAM5 grid pickle (a Python-2 dict with ``lat`` and ``lon``)."""
    import pickle

    from ..errors import DataFileError

    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh, encoding="latin1")
    except FileNotFoundError:
        raise DataFileError(path, "file not found") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise DataFileError(path, f"not a readable grid pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(d, dict) or "lat" not in d or "lon" not in d:
        raise DataFileError(path, f"expected a dict with 'lat' and 'lon'; found {type(d).__name__}"
                            f"{' with keys ' + str(sorted(d)) if isinstance(d, dict) else ''}")
    return np.asarray(d["lat"], dtype=np.float64), np.asarray(d["lon"], dtype=np.float64)


def _noise(rng, lat, lon, n_modes=8, max_wavenumber=6):
    """Smooth, longitude-periodic random field with unit-ish amplitude (sum of random waves)."""
    out = np.zeros((lat.size, lon.size))
    lat_r, lon_r = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    for _ in range(n_modes):
        k = rng.integers(1, max_wavenumber + 1)
        l_ = rng.uniform(1.0, max_wavenumber)
        out += np.cos(k * lon_r + rng.uniform(0, 2 * np.pi)) * np.cos(l_ * lat_r + rng.uniform(0, 2 * np.pi))
    return out / np.sqrt(n_modes / 4.0)


def _wrap_dlon(lon, lon0):
    return (lon - lon0 + 180.0) % 360.0 - 180.0


@register
class CAM5Generator(SyntheticGenerator):
    """CAM5-like 16-channel climate fields with tropical-cyclone and atmospheric-river labels (DeepCAM HDF5)."""

    name = "cam5"
    file_format = "h5"
    classes = ()

    def __init__(self, seed: int = 0, size=REFERENCE_SIZE, mean_cyclones: float = 2.5, mean_rivers: float = 3.0,
                 run: int = 1, start_year: int = 2106, hours_per_sample: int = 3):
        super().__init__(seed)
        size = tuple(int(s) for s in size)
        if len(size) != 2 or size[0] < 16 or size[1] < 16:
            raise ValueError(f"size must be (height, width), each >= 16; received {size!r}")
        if mean_cyclones < 0 or mean_rivers < 0:
            raise ValueError(f"mean_cyclones and mean_rivers must be >= 0; received {mean_cyclones!r}, "
                             f"{mean_rivers!r}")
        self.size = size
        self.mean_cyclones, self.mean_rivers = float(mean_cyclones), float(mean_rivers)
        self.run, self.start_year, self.hours_per_sample = int(run), int(start_year), int(hours_per_sample)
        self.lat, self.lon = cam5_grid(size)

    # -- file naming: data-YYYY-MM-DD-HH-R.h5 on CAM5's 365-day (no-leap) calendar ---------------------
    def date(self, index: int) -> tuple[int, int, int, int]:
        hours = index * self.hours_per_sample
        days, hour = divmod(hours, 24)
        year, doy = divmod(days, 365)
        month_days = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
        month = 0
        while doy >= month_days[month]:
            doy -= month_days[month]
            month += 1
        return self.start_year + year, month + 1, doy + 1, hour

    def filename(self, index: int, sample_label=None) -> str:
        y, m, d, h = self.date(index)
        return f"data-{y:04d}-{m:02d}-{d:02d}-{h:02d}-{self.run}.h5"

    # -- fields ------------------------------------------------------------------------------------------
    def orography(self) -> np.ndarray:
        """Surface height [m] of the idealised mountain ranges (the same for every sample)."""
        lat, lon = self.lat[:, None], self.lon[None, :]
        h = np.zeros((self.lat.size, self.lon.size))
        for lon0, lat0, slon, slat, height in _MOUNTAINS:
            h += height * np.exp(-0.5 * ((_wrap_dlon(lon, lon0) / slon) ** 2 + ((lat - lat0) / slat) ** 2))
        return h

    def _background(self, rng) -> np.ndarray:
        lat, lon = self.lat, self.lon
        phi = lat[:, None] * np.ones((1, lon.size))
        s2 = np.sin(np.deg2rad(phi)) ** 2
        n = lambda amp, modes=8: amp * _noise(rng, lat, lon, n_modes=modes)  # noqa: E731
        oro = self.orography()
        f = np.empty((lat.size, lon.size, 16))
        ts = 301.0 - 52.0 * s2 - 6.5e-3 * oro + n(3.0)
        f[..., 11] = ts
        f[..., 12] = ts - 1.5 + n(0.5, 4)
        f[..., 9] = 268.0 - 32.0 * s2 + n(2.0)
        f[..., 8] = 211.0 + 8.0 * s2 + n(2.0)
        psl = (101300.0 + 900.0 * np.exp(-((np.abs(phi) - 30.0) / 10.0) ** 2)
               - 1500.0 * np.exp(-((np.abs(phi) - 62.0) / 10.0) ** 2) + n(600.0))
        f[..., 7] = psl
        tmq = 5.0 + 45.0 * np.exp(-(phi / 24.0) ** 2) + n(4.0)
        f[..., 0] = np.maximum(tmq, 0.5)
        u850 = 11.0 * np.exp(-((np.abs(phi) - 45.0) / 12.0) ** 2) - 6.0 * np.exp(-(phi / 14.0) ** 2) + n(4.0)
        v850 = n(3.0)
        f[..., 1], f[..., 2] = u850, v850
        f[..., 14] = 12300.0 - 1100.0 * s2 + n(60.0)
        f[..., 10] = 2.0e-8 * (f[..., 0] / 30.0) ** 2 * np.clip(1.0 + n(0.8), 0.0, None)
        return f

    def _add_cyclone(self, f, labels, rng, tc):
        lat0, lon0 = tc["lat"], tc["lon"]
        dx = _wrap_dlon(self.lon[None, :], lon0) * _KM_PER_DEG * np.cos(np.deg2rad(lat0))
        dy = (self.lat[:, None] - lat0) * _KM_PER_DEG
        dx, dy = np.broadcast_to(dx, labels.shape), np.broadcast_to(dy, labels.shape)
        r = np.hypot(dx, dy) + 1e-6
        rmax, vmax, dp = tc["rmax_km"], tc["vmax"], tc["dp"]
        vt = np.where(r < rmax, vmax * r / rmax, vmax * (rmax / r) ** 0.6) * np.exp(-(r / (5.0 * rmax)) ** 2)
        sense = 1.0 if lat0 >= 0 else -1.0          # cyclonic: counter-clockwise in the north, clockwise in the south
        f[..., 1] += -sense * vt * dy / r
        f[..., 2] += sense * vt * dx / r
        core = np.exp(-0.5 * (r / (1.3 * rmax)) ** 2)
        f[..., 7] -= dp * np.exp(-0.5 * (r / (2.0 * rmax)) ** 2)
        f[..., 0] += tc["moisture"] * np.exp(-0.5 * (r / (2.0 * rmax)) ** 2)
        f[..., 9] += 7.0 * core                    # warm core
        f[..., 8] += 4.0 * core
        f[..., 11] += 1.0 * core
        f[..., 10] += 1.2e-5 * np.exp(-0.5 * (r / rmax) ** 2)
        labels[r < tc["label_km"]] = 1

    def _add_river(self, f, labels, relaxed, rng, ar):
        t = np.linspace(0.0, 1.0, 60)
        plat = ar["lat"] + ar["sign"] * ar["dlat"] * t
        plon = ar["lon"] + ar["dlon"] * t + ar["bend"] * np.sin(np.pi * t)
        lat_sel = np.nonzero((self.lat > plat.min() - 12) & (self.lat < plat.max() + 12))[0]
        if lat_sel.size == 0:
            return
        sub_lat = self.lat[lat_sel][:, None, None]
        dx = _wrap_dlon(self.lon[None, :, None], plon[None, None, :]) * _KM_PER_DEG * np.cos(np.deg2rad(sub_lat))
        dy = (sub_lat - plat[None, None, :]) * _KM_PER_DEG
        d2 = dx ** 2 + dy ** 2
        k = np.argmin(d2, axis=-1)
        d = np.sqrt(np.take_along_axis(d2, k[..., None], -1)[..., 0])
        taper = np.sin(np.pi * np.clip(t[k], 0.0, 1.0)) ** 0.5
        profile = np.exp(-0.5 * (d / ar["width_km"]) ** 2) * taper
        # direction of the plume at the nearest point, in (east, north) components
        dlat_dt = ar["sign"] * ar["dlat"] * np.ones_like(t)
        dlon_dt = ar["dlon"] + ar["bend"] * np.pi * np.cos(np.pi * t)
        east = dlon_dt * np.cos(np.deg2rad(plat))
        norm = np.hypot(east, dlat_dt)
        ue, vn = (east / norm)[k], (dlat_dt / norm)[k]
        f[lat_sel, :, 0] += ar["moisture"] * profile
        f[lat_sel, :, 1] += ar["wind"] * profile * ue
        f[lat_sel, :, 2] += ar["wind"] * profile * vn
        f[lat_sel, :, 10] += 3.0e-7 * profile
        sub = labels[lat_sel]
        sub[(profile > 0.5) & (sub == 0)] = 2
        labels[lat_sel] = sub
        sub = relaxed[lat_sel]
        sub[(profile > 0.3) & (sub == 0)] = 2
        relaxed[lat_sel] = sub

    def sample(self, index: int, label=None) -> Sample:
        """Sample `index`: fields ``(H, W, 16)`` float32, labels ``(H, W)`` float32, and the features' metadata."""
        rng = self.rng(index)
        f = self._background(rng)
        h, w = self.size
        labels = np.zeros((h, w), dtype=np.float32)
        relaxed = np.zeros((h, w), dtype=np.float32)
        rivers = []
        for _ in range(rng.poisson(self.mean_rivers)):
            sign = rng.choice([-1.0, 1.0])
            rivers.append(dict(lat=float(sign * rng.uniform(12, 22)), lon=float(rng.uniform(0, 360)), sign=float(sign),
                               dlat=float(rng.uniform(20, 38)), dlon=float(rng.uniform(15, 45)),
                               bend=float(rng.uniform(-8, 8)), width_km=float(rng.uniform(280, 420)),
                               moisture=float(rng.uniform(18, 30)), wind=float(rng.uniform(10, 18))))
        cyclones = []
        for _ in range(rng.poisson(self.mean_cyclones)):
            sign = rng.choice([-1.0, 1.0])
            rmax = float(rng.uniform(120, 220))
            cyclones.append(dict(lat=float(sign * rng.uniform(8, 28)), lon=float(rng.uniform(0, 360)), rmax_km=rmax,
                                 vmax=float(rng.uniform(30, 60)), dp=float(rng.uniform(2000, 7000)),
                                 moisture=float(rng.uniform(15, 30)), label_km=float(2.5 * rmax)))
        for ar in rivers:
            self._add_river(f, labels, relaxed, rng, ar)
        for tc in cyclones:                      # cyclones are drawn last and win where they overlap a river
            self._add_cyclone(f, labels, rng, tc)
            relaxed[labels == 1] = 1
        # derived channels
        oro = self.orography()
        f[..., 3] = 0.75 * f[..., 1]
        f[..., 4] = 0.75 * f[..., 2]
        f[..., 5] = 3.4e-4 * f[..., 0] * np.exp(-oro / 2500.0)
        f[..., 6] = f[..., 7] * np.exp(-oro / 8400.0)
        f[..., 13] = (f[..., 7] - 100000.0) * 0.083
        f[..., 15] = 61.0 + 0.25 * (f[..., 12] - 278.0)
        data = np.clip(f, STATS_MIN, STATS_MAX).astype(np.float32)
        y, m, d, hr = self.date(index)
        meta = {"index": index, "date": f"{y:04d}-{m:02d}-{d:02d} {hr:02d}:00", "cyclones": cyclones,
                "rivers": rivers}
        return Sample(data=data, label=labels, meta=meta, extra={"labels_1": relaxed})

    # -- writing -----------------------------------------------------------------------------------------
    @staticmethod
    def _label_stats(lab: np.ndarray) -> np.ndarray:
        fr = [float(np.mean(lab == c)) for c in range(3)]
        return np.array([[lab.mean()], [lab.max()], [lab.min()], [lab.std()], [fr[0]], [fr[1]], [fr[2]]],
                        dtype=np.float64)

    def save(self, sample: Sample, path: Path) -> Path:
        """Write one sample as the benchmark's HDF5 (atomically: a temporary name, then a rename)."""
        import h5py

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = sample.data
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
            g = fh.create_group("climate")
            g.create_dataset("data", data=data)
            g.create_dataset("labels_0", data=sample.label.astype(np.float32))
            g.create_dataset("labels_1", data=sample.extra["labels_1"].astype(np.float32))
            g.create_dataset("data_stats", data=np.stack([data.mean(axis=(0, 1)), data.max(axis=(0, 1)),
                                                          data.min(axis=(0, 1)), data.std(axis=(0, 1))]))
            g.create_dataset("labels_0_stats", data=self._label_stats(sample.label))
            g.create_dataset("labels_1_stats", data=self._label_stats(sample.extra["labels_1"]))
        return path
