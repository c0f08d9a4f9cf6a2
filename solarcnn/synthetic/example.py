"""Worked example of the synthetic-data interface: a full-disk continuum image.

`SunspotDiskGenerator` (``"sunspot_disk"``) writes FITS files shaped like the
SDO/HMI continuum-intensity images (``BUNIT='DN/s'``, helioprojective
``HPLN-TAN``/``HPLT-TAN`` WCS, ``RSUN_OBS``, NaN off the disk) with:

- **limb darkening**, the quadratic law I(μ)/I(1) = 1 − a(1 − μ) − b(1 − μ)², with
  μ = cos θ the cosine of the heliocentric angle (a = 0.45, b = 0.22, roughly the
  visible continuum near 6173 Å);
- **sunspots** at random heliographic latitudes within the activity belts
  (5°–35° N/S): a dark umbra (≈ 0.2 I) inside a penumbra (≈ 0.75 I), both
  foreshortened towards the limb (the radial axis shrinks by μ);
- relative Gaussian noise (0.4 % by default, like a resampled HMI image).

The label is the number of sunspots, so the set can teach counting or
regression; notebook 00 uses it to show that a synthetic file reads exactly
like the real `resampled_hmi.fits`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Sample, SyntheticGenerator, register


@register
class SunspotDiskGenerator(SyntheticGenerator):
    """Full-disk continuum images (HMI-like FITS) with limb darkening and 0-5 sunspots."""

    name = "sunspot_disk"
    file_format = "fits"
    limb_a, limb_b = 0.45, 0.22

    def __init__(self, seed: int = 0, size: int = 100, rsun_arcsec: float = 968.66, max_spots: int = 5,
                 disk_fraction: float = 0.94, intensity: float = 52000.0, noise: float = 0.004):
        super().__init__(seed)
        if size < 16:
            raise ValueError(f"size must be >= 16 pixels; received {size}")
        if not 0 <= max_spots <= 20:
            raise ValueError(f"max_spots must be in 0..20; received {max_spots}")
        self.size, self.rsun_arcsec, self.max_spots = int(size), float(rsun_arcsec), int(max_spots)
        # plate scale chosen so that the disk fills `disk_fraction` of the half-width
        self.cdelt = self.rsun_arcsec / (disk_fraction * size / 2)
        self.intensity = float(intensity)
        if not 0 <= noise < 0.5:
            raise ValueError(f"noise must be in [0, 0.5); received {noise}")
        self.noise = float(noise)

    def label_for(self, index: int):
        return int(self.rng(index).integers(0, self.max_spots + 1))

    def sample(self, index: int, label=None) -> Sample:
        rng = self.rng(index)
        n_spots = self.label_for(index) if label is None else int(label)
        rng.integers(0, self.max_spots + 1)          # keep the stream aligned with label_for
        n = self.size
        c = (n - 1) / 2
        y, x = np.mgrid[0:n, 0:n]
        # helioprojective coordinates in units of the solar radius
        xr = (x - c) * self.cdelt / self.rsun_arcsec
        yr = (y - c) * self.cdelt / self.rsun_arcsec
        r2 = xr**2 + yr**2
        on_disk = r2 < 1.0
        mu = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        image = 1.0 - self.limb_a * (1 - mu) - self.limb_b * (1 - mu) ** 2
        spots = []
        for _ in range(n_spots):
            lat = np.deg2rad(rng.uniform(5, 35) * rng.choice([-1, 1]))
            lon = np.deg2rad(rng.uniform(-70, 70))
            # position on the disk (observer at B0 = 0)
            sx, sy = np.cos(lat) * np.sin(lon), np.sin(lat)
            smu = np.cos(lat) * np.cos(lon)
            r_pen = rng.uniform(0.02, 0.05)          # penumbra radius, solar radii
            r_umb = r_pen * rng.uniform(0.35, 0.5)
            # foreshortening: distances along the radial direction are stretched by 1/mu
            rad = np.array([sx, sy]) / max(np.hypot(sx, sy), 1e-9)
            dx, dy = xr - sx, yr - sy
            along = (dx * rad[0] + dy * rad[1]) / max(smu, 0.15)
            across = -dx * rad[1] + dy * rad[0]
            d = np.hypot(along, across)
            image = np.where(d < r_pen, np.minimum(image, 0.75 * image), image)
            image = np.where(d < r_umb, np.minimum(image, 0.2 / 0.75 * image), image)
            spots.append({"lat_deg": float(np.rad2deg(lat)), "lon_deg": float(np.rad2deg(lon)),
                          "penumbra_radius_rsun": float(r_pen)})
        counts = self.intensity * image
        counts = counts * (1.0 + self.noise * rng.standard_normal(counts.shape))   # relative (photon-like) noise
        data = np.where(on_disk, counts, np.nan)
        return Sample(data=data, label=n_spots, meta={"spots": spots, "index": index})

    def header(self, sample: Sample):
        from astropy.io import fits

        h = fits.Header()
        n = self.size
        h["TELESCOP"] = ("SDO/HMI (synthetic)", "solarcnn synthetic stand-in for SDO/HMI")
        h["INSTRUME"] = ("HMI_SYNTH", "not a real instrument")
        h["ORIGIN"] = "solarcnn"
        h["CONTENT"] = "CONTINUUM INTENSITY"
        h["WAVELNTH"] = (6173.3, "[Angstrom] Fe I line continuum")
        h["BUNIT"] = "DN/s"
        h["DATE-OBS"] = f"2014-03-{1 + sample.meta['index'] % 28:02d}T00:00:00.00"
        for ax in (1, 2):
            h[f"CTYPE{ax}"] = "HPLN-TAN" if ax == 1 else "HPLT-TAN"
            h[f"CUNIT{ax}"] = "arcsec"
            h[f"CDELT{ax}"] = self.cdelt
            h[f"CRPIX{ax}"] = (n + 1) / 2
            h[f"CRVAL{ax}"] = 0.0
        h["RSUN_OBS"] = (self.rsun_arcsec, "[arcsec] apparent solar radius")
        h["NSPOTS"] = (int(sample.label), "number of synthetic sunspots (the label)")
        h["SEED"] = (self.seed, "solarcnn generator seed")
        h["SAMPLE"] = (int(sample.meta["index"]), "sample index")
        return h

    def filename(self, index: int, sample_label=None) -> str:
        return f"synthetic_hmi_continuum_{index:05d}.fits"

    def save(self, sample: Sample, path: Path) -> Path:
        from ..io.fits import write_fits

        return write_fits(path, sample.data, self.header(sample))
