"""Synthetic full-disk line-of-sight magnetograms with a matching GOES-style flare list.

`MagnetogramGenerator` (``"magnetogram"``) simulates a stretch of solar activity and
writes, in the real on-disk formats:

- **FITS** like ``hmi.M_720s``: an empty primary HDU and a RICE-compressed HDU1 holding
  int32 with ``BSCALE = 0.1`` (Gauss), ``BLANK`` for the NaN off-disk pixels, the HMI
  header keys (``TELESCOP``, ``CONTENT='MAGNETOGRAM'``, ``BUNIT='Gauss'``, ``CTYPE``
  HPLN-TAN/HPLT-TAN, ``CRPIX``, ``CDELT``, ``CROTA2 = 180`` (stored upside down, as HMI),
  ``RSUN_OBS``, ``DSUN_OBS``, ``T_REC``...), ``ORIGIN`` naming this generator;
- optionally **JPEG 2000** (Pillow's bundled OpenJPEG), the 8-bit Helioviewer-like image
  of `solarcnn.io.hmi.magnetogram_to_uint8` (no XML header box);
- a **flare list CSV** in the exact layout of ``final_flare_list_sc24.csv``.

Physics (observer at B0 = 0, so heliographic latitude/longitude follow from the disk position):

- **Active regions** emerge at random times in the activity belts (5°–35° N/S) at any
  longitude (some on the far side) and rotate west at 13.2 − 2.3 sin²(lat) ° per day
  (synodic, differential). Each is a bipole of two Gaussian polarities of radial field B_r,
  with Hale's polarity rule and Joy's-law tilt, growing over a day and decaying at the end
  of its life.
- **Flare-productive regions** (a minority) are stronger (2.5–3.8 kG vs 0.4–1.0 kG) and
  compact, with a δ-spot: an opposite-polarity kernel pressed against the leading spot, i.e.
  a sharp polarity inversion line. Only they produce M and X flares at a high rate; all
  regions produce C flares (quiet ones rarely an M flare, so the labels are not trivial).
- **The observed signal** is the line-of-sight component B_los = B_r · μ, with μ = cos θ
  = cos(lat)·cos(lon), and every feature is foreshortened by the same projection. Near the
  limb (|lon| > 70°, μ < 0.34) a productive region therefore looks as weak and as small as a
  quiet one at disk centre, and a region that flares just after rotating onto the disk is
  not visible at all at the image time: the near-limb difficulty arises for the physical
  reason it arises in HMI data.
- Flare positions are the region's (lat, lon) at the flare start; flares behind the limb
  (|lon| > 90°) are not in the list (occulted), as in a GOES catalogue with positions.
- Noise: 10 G Gaussian per pixel (HMI's 720 s noise is ≈ 5–10 G).

Sample ``i`` is the disk at ``start + i * cadence_hours``. The activity history depends only on
the seed, so every sample and the flare list agree whatever the order of generation.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils import atomic_path
from .base import Sample, SyntheticGenerator, register

BLANK = -2147483648
RSUN_ARCSEC = 960.0
DAY = np.timedelta64(86400, "s")
# Flare-productive regions: (polarity separation, polarity width) ranges in degrees of arc.
# "large" (default): big complex regions like the flare-rich ARs of cycle 24 (AR 11158, 11429, 12192 span
# 10-20 deg), a few pixels even at 64-128 px full-disk inputs. "compact": the first version of this generator
# (2.5-4 deg, sigma 1.6-2.2 deg), 1-2 px at 64 px inputs.
PRODUCTIVE_SIZES = {"large": ((5.0, 8.0), (2.4, 3.2)), "compact": ((2.5, 4.0), (1.6, 2.2))}


@dataclass
class Region:
    t0: float          # emergence [days after start]
    life: float        # lifetime [days]
    lat: float         # deg
    lon0: float        # Stonyhurst longitude at t0 [deg]
    amp: float         # peak |B_r| [G]
    sep: float         # polarity separation [deg]
    sigma: float       # polarity width [deg]
    tilt: float        # deg
    productive: bool
    c_rate: float      # C flares per day
    mx_rate: float     # M/X flares per day

    def lon(self, t):
        return self.lon0 + (13.2 - 2.3 * np.sin(np.deg2rad(self.lat)) ** 2) * (t - self.t0)

    def strength(self, t):
        """Emergence over 1 day, decay over the last 30 % of the life; 0 outside."""
        age = t - self.t0
        grow = np.clip(age / 1.0, 0.0, 1.0)
        decay = np.clip((self.life - age) / (0.3 * self.life), 0.0, 1.0)
        return np.where((age >= 0) & (age <= self.life), grow * decay, 0.0)


@register
class MagnetogramGenerator(SyntheticGenerator):
    """Full-disk HMI-like line-of-sight magnetograms (FITS/JP2) with a matching GOES flare list (CSV)."""

    name = "magnetogram"
    file_format = "fits"

    def __init__(self, seed: int = 0, size: int = 512, start: str = "2011-01-01T00:00:00", days: float = 365.0,
                 cadence_hours: float = 6.0, emergence_per_day: float = 0.7, productive_fraction: float = 0.12,
                 noise_gauss: float = 10.0, jp2: bool = False, productive_size: str = "large"):
        super().__init__(seed)
        if not 32 <= size <= 4096:
            raise ValueError(f"size must be in 32..4096 pixels; received {size}")
        if days <= 0 or cadence_hours <= 0:
            raise ValueError(f"days and cadence_hours must be > 0; received days={days}, cadence_hours={cadence_hours}")
        if not 0 <= productive_fraction <= 1:
            raise ValueError(f"productive_fraction must be in [0, 1]; received {productive_fraction}")
        if productive_size not in PRODUCTIVE_SIZES:
            raise ValueError(f"productive_size must be one of {sorted(PRODUCTIVE_SIZES)}; received {productive_size!r}")
        self.productive_size = productive_size
        self.productive_sep, self.productive_sigma = PRODUCTIVE_SIZES[productive_size]
        self.size, self.days, self.cadence_hours = int(size), float(days), float(cadence_hours)
        self.start = np.datetime64(start, "s")
        self.emergence_per_day, self.productive_fraction = float(emergence_per_day), float(productive_fraction)
        self.noise_gauss, self.jp2 = float(noise_gauss), bool(jp2)
        self.rsun_pix = 0.457 * self.size                      # HMI: 1890 of 4096 pixels
        self.cdelt = RSUN_ARCSEC / self.rsun_pix
        self._regions = None
        self._flares = None

    # ------------------------------------------------------------------ activity history
    @property
    def n_images(self) -> int:
        return int(np.floor(self.days * 24 / self.cadence_hours)) + 0

    def time_of(self, index: int) -> np.datetime64:
        return self.start + np.timedelta64(int(round(index * self.cadence_hours * 3600)), "s")

    def image_times(self) -> np.ndarray:
        return np.array([self.time_of(i) for i in range(self.n_images)], dtype="datetime64[s]")

    def regions(self) -> list[Region]:
        """The active regions of the simulated period (fixed by the seed)."""
        if self._regions is None:
            rng = np.random.default_rng([self.seed, 10**6])
            lead = 30.0                                          # regions already alive at the start
            n = rng.poisson(self.emergence_per_day * (self.days + lead))
            out = []
            for _ in range(n):
                productive = bool(rng.random() < self.productive_fraction)
                hemi = rng.choice([-1.0, 1.0])
                lat = hemi * rng.uniform(5, 35)
                if productive:
                    out.append(Region(rng.uniform(-lead, self.days), rng.uniform(6, 14), lat, rng.uniform(-180, 180),
                                      rng.uniform(2500, 3800), rng.uniform(*self.productive_sep),
                                      rng.uniform(*self.productive_sigma), rng.uniform(-40, 40), True,
                                      rng.uniform(2.0, 4.0), rng.uniform(1.0, 2.0)))
                else:
                    out.append(Region(rng.uniform(-lead, self.days), rng.uniform(5, 30), lat, rng.uniform(-180, 180),
                                      rng.uniform(400, 1000), rng.uniform(6.0, 10.0), rng.uniform(2.0, 3.0),
                                      hemi * rng.uniform(0, 12), False, rng.uniform(0.2, 1.0),
                                      rng.uniform(0.0, 0.006)))
            self._regions = out
        return self._regions

    def flares(self):
        """The flare list (a `solarcnn.io.goes.FlareList`), positions from the regions."""
        from ..io.goes import FlareList

        if self._flares is None:
            rng = np.random.default_rng([self.seed, 10**6 + 1])
            starts, classes, lats, lons, ars = [], [], [], [], []
            for k, reg in enumerate(self.regions()):
                a, b = max(reg.t0, 0.0), min(reg.t0 + reg.life, self.days + 2.0)
                if b <= a:
                    continue
                for rate, kind in ((reg.c_rate, "C"), (reg.mx_rate, "MX")):
                    n = rng.poisson(rate * (b - a))
                    for t in np.sort(rng.uniform(a, b, n)):
                        if reg.strength(t) < 0.3:
                            continue
                        lon = float(reg.lon(t))
                        lon = (lon + 180.0) % 360.0 - 180.0
                        if abs(lon) > 90:                        # occulted: not in a list with positions
                            continue
                        if kind == "C":
                            cls = f"C{rng.uniform(1.0, 9.9):.1f}"
                        elif rng.random() < 0.12:
                            cls = f"X{min(10 ** rng.uniform(0, 0.5), 9.9):.1f}"
                        else:
                            cls = f"M{10 ** rng.uniform(0, 0.995):.1f}"
                        starts.append(self.start + np.timedelta64(int(t * 86400) // 60 * 60, "s"))
                        classes.append(cls)
                        lats.append(round(reg.lat + rng.normal(0, 0.5)))
                        lons.append(round(lon))
                        ars.append(str(11000 + k))
            start = np.array(starts, dtype="datetime64[s]")
            order = np.argsort(start, kind="stable")
            self._flares = FlareList(start[order], np.array(classes)[order], np.array(lats, float)[order],
                                     np.array(lons, float)[order], noaa_ar=np.array(ars)[order],
                                     source=f"synthetic magnetogram seed {self.seed}")
        return self._flares

    def write_flare_list(self, path: str | os.PathLike) -> Path:
        """Write the flare list in the layout of ``final_flare_list_sc24.csv``."""
        from ..io.goes import write_flare_list

        return write_flare_list(path, self.flares())

    # ------------------------------------------------------------------ images
    def _grid(self):
        if getattr(self, "_grid_cache", None) is None:
            n = self.size
            c = (n - 1) / 2.0
            yy, xx = np.mgrid[0:n, 0:n].astype("float64")
            X, Y = (xx - c) / self.rsun_pix, (yy - c) / self.rsun_pix
            r2 = X**2 + Y**2
            Z = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
            lat = np.rad2deg(np.arcsin(np.clip(Y, -1, 1)))
            lon = np.rad2deg(np.arctan2(X, Z))
            self._grid_cache = (r2 < 1.0, Z, lat, lon)
        return self._grid_cache

    def field(self, t_days: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """B_los [G] on the disk at time `t_days` (NaN off-disk), array rows south -> north."""
        n = self.size
        c = (n - 1) / 2.0
        disk, Z, lat, lon = self._grid()
        br = np.zeros((n, n))
        for reg in self.regions():
            s = float(reg.strength(t_days))
            if s <= 0:
                continue
            rlon = (float(reg.lon(t_days)) + 180.0) % 360.0 - 180.0
            reach = reg.sep + 4 * reg.sigma                      # degrees of arc that matter
            if abs(rlon) > 90 + reach:
                continue
            # pixel box around the region (its projected position +- reach)
            cl, sl = np.cos(np.deg2rad(reg.lat)), np.sin(np.deg2rad(reg.lat))
            px = c + self.rsun_pix * cl * np.sin(np.deg2rad(np.clip(rlon, -90, 90)))
            py = c + self.rsun_pix * sl
            half = int(np.ceil(self.rsun_pix * np.sin(np.deg2rad(min(reach, 89))))) + 2
            y0, y1 = max(int(py) - half, 0), min(int(py) + half + 1, n)
            x0, x1 = max(int(px) - half, 0), min(int(px) + half + 1, n)
            if y1 <= y0 or x1 <= x0:
                continue
            la, lo = lat[y0:y1, x0:x1], lon[y0:y1, x0:x1]
            sign = 1.0 if reg.lat > 0 else -1.0                  # Hale: leading polarity by hemisphere
            tilt = np.deg2rad(reg.tilt)
            dx, dy = 0.5 * reg.sep * np.cos(tilt), 0.5 * reg.sep * np.sin(tilt)
            dlat = la - reg.lat
            dlon = ((lo - rlon + 180.0) % 360.0 - 180.0) * cl   # east-west arc on the sphere
            sig2 = 2 * reg.sigma**2
            lead = np.exp(-((dlon - dx) ** 2 + (dlat - dy) ** 2) / sig2)
            trail = np.exp(-((dlon + dx) ** 2 + (dlat + dy) ** 2) / sig2)
            b = sign * (lead - trail)
            if reg.productive:                                   # delta spot: sharp inversion line
                off = 0.55 * reg.sigma
                kern = np.exp(-((dlon - dx - off) ** 2 + (dlat - dy + off) ** 2) / (2 * (0.6 * reg.sigma) ** 2))
                b -= 1.4 * sign * kern
            br[y0:y1, x0:x1] += s * reg.amp * b
        blos = br * Z                                            # line-of-sight projection (mu)
        if rng is not None and self.noise_gauss > 0:
            blos = blos + rng.normal(0.0, self.noise_gauss, blos.shape)
        return np.where(disk, blos, np.nan).astype("float32")

    def sample(self, index: int, label=None) -> Sample:
        if not 0 <= index < self.n_images:
            raise IndexError(f"index must be in 0..{self.n_images - 1}; received {index}")
        t = self.time_of(index)
        t_days = float((t - self.start) / np.timedelta64(1, "s")) / 86400.0
        data = self.field(t_days, self.rng(index))
        return Sample(data=data, label=None, meta={"time": str(t), "t_days": t_days})

    def header(self, sample: Sample):
        from astropy.io import fits

        t = sample.meta["time"]
        n = self.size
        h = fits.Header()
        h["DATE-OBS"] = (t + ".000", "[ISO] Observation date")
        h["T_REC"] = (t.replace("-", ".").replace("T", "_") + "_TAI", "record time")
        h["TELESCOP"] = ("SDO/HMI", "Telescope (simulated)")
        h["INSTRUME"] = ("HMI_COMBINED", "For HMI: HMI_SIDE1, HMI_FRONT2, or HMI_COMBINED")
        h["WAVELNTH"] = (6173.0, "[angstrom] Wavelength")
        h["CAMERA"] = 3
        h["BUNIT"] = ("Gauss", "Physical Units")
        h["ORIGIN"] = ("solarcnn.synthetic.magnetogram", "SYNTHETIC data, not an observation")
        h["CONTENT"] = ("MAGNETOGRAM", "Content")
        h["QUALITY"] = (0, "Level 1.5 quality")
        # WCS: stored rotated by 180 deg like HMI (CROTA2 = 180), disk centre at the array centre
        h["CTYPE1"], h["CTYPE2"] = "HPLN-TAN", "HPLT-TAN"
        h["CRPIX1"] = h["CRPIX2"] = (n + 1) / 2.0
        h["CRVAL1"] = h["CRVAL2"] = 0.0
        h["CDELT1"] = h["CDELT2"] = self.cdelt
        h["CUNIT1"] = h["CUNIT2"] = "arcsec"
        h["CROTA2"] = 180.0
        h["DSUN_OBS"] = 1.496e11
        h["RSUN_REF"] = 696000000.0
        h["RSUN_OBS"] = RSUN_ARCSEC
        h["CRLN_OBS"] = 0.0
        h["CRLT_OBS"] = 0.0
        h["TRECSTEP"] = 720.0
        h["CADENCE"] = 720.0
        h["COMMENT"] = "Synthetic full-disk magnetogram written by solarcnn (seed %d)" % self.seed
        return h

    def filename(self, index: int, sample_label=None) -> str:
        t = str(self.time_of(index)).replace("-", "").replace(":", "").replace("T", "_")
        return f"hmi.M_720s.{t}_TAI.synthetic.magnetogram.fits"

    def save(self, sample: Sample, path: Path) -> Path:
        from astropy.io import fits

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = sample.data[::-1, ::-1]                          # CROTA2 = 180: stored upside down
        ints = np.where(np.isnan(stored), BLANK, np.rint(np.nan_to_num(stored) / 0.1)).astype("int32")
        hdr = self.header(sample)
        hdr["BLANK"] = BLANK
        hdu = fits.CompImageHDU(data=ints, header=hdr, compression_type="RICE_1")
        hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 0.1, 0.0, BLANK
        with atomic_path(path) as tmp:
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)
        if self.jp2:
            self.save_jp2(sample, path.with_suffix(".jp2"))
        return path

    def save_jp2(self, sample: Sample, path: Path, *, clip_gauss: float | None = None) -> Path:
        """The 8-bit Helioviewer-like image as JPEG 2000 (lossless, north row first)."""
        from PIL import Image

        from ..io.hmi import CLIP_GAUSS, magnetogram_to_uint8

        img = magnetogram_to_uint8(sample.data, clip_gauss=clip_gauss or CLIP_GAUSS, size=None)
        path = Path(path)
        with atomic_path(path) as tmp:
            Image.fromarray(img[::-1], mode="L").save(tmp, format="JPEG2000", irreversible=False)
        return path
