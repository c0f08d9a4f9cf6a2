"""Synthetic Hinode/SOT-like H-alpha frames of the five Slic classes.

Introduced in notebook 01. Slic (Armstrong & Fletcher 2019) was trained on
13,175 Hinode/SOT H-alpha 6563 Å images that are not public; this generator
stands in for them. Each file is a gzip FITS with one 512×512 big-endian
``int16`` image of Level-0-like counts (about 50…1500 DN), 0.16″/px (2×2
summing, 81.92″ field) in HDU0, a 560-byte non-standard ``XTENSION='DUMP'``
extension in HDU1 (the real files' layout), and the SOT narrow-band filtergraph's header keys
(``TELESCOP``, ``INSTRUME='SOT/NB'``, ``OBS_TYPE``, ``WAVE``, ``DATE_OBS``,
``CDELT1/2``, ``XCEN/YCEN``, ``FOVX/FOVY``, ...), so the reader and the
preparation code run unchanged on real and synthetic files.

Frames come in *sequences* (an observing run: one target, a fixed cadence,
a slow drift and evolution), like real data. Consecutive frames of a
sequence are near-duplicates, which is what makes a frame-wise train/validation
split leak. Morphology, chosen so that a student can tell the classes apart by
eye and a CNN can learn them:

- ``filaments``: a long, dark, curved, ragged band (a filament seen on the disk);
- ``flares``: two bright, roughly parallel ribbons with bright knots;
- ``prominences``: the solar limb crosses the frame; above it, on the dark sky,
  a bright cloud of threads (a prominence seen off the disk);
- ``quiet``: chromospheric mottling and a few bright network points only;
- ``sunspots``: one or two dark umbrae surrounded by a filamentary penumbra.

Every class sits on the same mottled background with the same noise, so the
feature, not the background, carries the label.

Sample ``i``: sequence ``i // frames_per_sequence``, class
``classes[sequence % 5]``, frame ``i % frames_per_sequence``.

``domain_randomisation=True`` (off by default: the plain frames above are
unchanged) widens every one of these choices so that a classifier trained on
the frames has to learn the feature under the variety real observations
show, and transfers to real frames (issue 15 item 4; Tobin et al. 2017,
"Domain randomization for transferring deep neural networks from simulation
to the real world", arXiv:1703.06907). Per sequence: photospheric
granulation mixed into the background at a random contrast; sunspots of
random position (also near the frame edge), size, penumbra width and
darkness, with one to four umbral cores and a rougher outline; small pores
(dark dots without penumbra) in any on-disk class; fainter or narrower
filaments and weaker flare ribbons (class overlap). Per frame: seeing blur,
a random exposure level (150…1500 DN), a photon-noise factor of 0.3…3 (plain: 0.6), a
large-scale brightness gradient (limb darkening, vignetting), a CCD pattern
of random strength, dust shadows and a few hot or cold pixels (which move the
per-image byte-scaling, as one cold pixel does in a real SOT frame).

Measured with notebook 02's tiny recipe (2026-12-01, data seed 0): trained on
randomised frames, the network labels all 18 real SOT sunspot frames
``sunspots`` at training seeds 42, 0 and 1 (TF bf16), and at seed 42 in
float32 under TF and JAX; its held-out synthetic accuracy is 0.76…0.92, where
the plain frames give 0.96…1.00 (seeds 42, 0, 1). Trained on plain frames it
also labelled the 18 frames ``sunspots`` in those runs. The cost: windows of
the real BBSO H-alpha image centred on filaments go to ``sunspots`` more often
(`solarcnn.slic.real`).
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from ..utils import atomic_write_bytes
from .base import Sample, SyntheticGenerator, register

CLASSES = ("filaments", "flares", "prominences", "quiet", "sunspots")
PLATE_SCALE = 0.16  # arcsec / pixel (SOT/NB with 2x2 on-chip summing)


def _smooth_noise(rng: np.random.Generator, shape, scale: float, anisotropy: float = 1.0, angle: float = 0.0):
    """Zero-mean, unit-std Gaussian random field with correlation length ~`scale` pixels."""
    ny, nx = shape
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    c, s = np.cos(angle), np.sin(angle)
    ku = kx * c + ky * s
    kv = -kx * s + ky * c
    k2 = ku ** 2 * anisotropy ** 2 + kv ** 2 / anisotropy ** 2
    filt = np.exp(-2 * (np.pi * scale) ** 2 * k2)
    field = np.fft.irfft2(np.fft.rfft2(rng.standard_normal(shape)) * filt, s=shape)
    field -= field.mean()
    return field / (field.std() + 1e-12)


def _curve(rng, n, size, *, length=(0.7, 1.2), bend=0.25, centre=None, angle=None):
    """Points of a smooth random curve (quadratic Bezier plus a wiggle) on a size×size canvas."""
    cy, cx = centre if centre is not None else rng.uniform(0.35, 0.65, 2) * size
    a = rng.uniform(0, np.pi) if angle is None else angle
    half = 0.5 * rng.uniform(*length) * size
    p0 = np.array([cx - half * np.cos(a), cy - half * np.sin(a)])
    p2 = np.array([cx + half * np.cos(a), cy + half * np.sin(a)])
    normal = np.array([-np.sin(a), np.cos(a)])
    p1 = 0.5 * (p0 + p2) + normal * rng.uniform(-bend, bend) * size
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
    wiggle = 0.02 * size * np.sin(2 * np.pi * (rng.uniform(1, 3) * t + rng.uniform()))
    return pts + wiggle * normal, normal, t[:, 0]


def _distance_to(points, shape):
    """Distance (pixels) of every pixel to the nearest of `points` ((x, y) rows)."""
    from scipy import ndimage

    mask = np.ones(shape, dtype=bool)
    ij = np.round(points[:, ::-1]).astype(int)
    keep = (ij[:, 0] >= 0) & (ij[:, 0] < shape[0]) & (ij[:, 1] >= 0) & (ij[:, 1] < shape[1])
    if not keep.any():
        return np.full(shape, np.inf)
    mask[ij[keep, 0], ij[keep, 1]] = False
    return ndimage.distance_transform_edt(mask)


@register
class SOTGenerator(SyntheticGenerator):
    """Hinode/SOT-like H-alpha frames (512×512 >i2 FITS.gz): filaments, flare ribbons, prominences, quiet Sun, sunspots.

    Args:
        seed: the generator's seed.
        frames_per_sequence: frames in one observing sequence (same target,
            30 s cadence, slow drift); 1 makes every frame independent.
        size: image side in pixels (512 like the real SOT example files).
        missing_block_fraction: fraction of frames that lose a block of rows
            to zero-filled telemetry (Level-0 data gaps). The faithful Slic
            preparation skips any frame with a zero pixel; 0 writes none.
        wave: the ``WAVE`` header value; ``'TF H I 6563'`` (H-alpha, the
            wavelength Slic was trained on).
        start: first sequence's start time (ISO string, UTC).
        domain_randomisation: False (default): the plain frames. True: random
            granulation, sunspot geometry and darkness, pores, fainter features,
            seeing, exposure, noise, gradients and detector artefacts (module
            docs), so that a model trained on them meets real frames prepared
            for. Files written with it differ from plain ones (the folder's
            stamp records the option).
    """

    name = "sot"
    file_format = "fits.gz"
    classes = CLASSES

    def __init__(self, seed: int = 0, *, frames_per_sequence: int = 8, size: int = 512,
                 missing_block_fraction: float = 0.0, wave: str = "TF H I 6563", start: str = "2012-01-01T00:00:00",
                 domain_randomisation: bool = False):
        super().__init__(seed)
        if not isinstance(frames_per_sequence, (int, np.integer)) or frames_per_sequence < 1:
            raise ValueError(f"frames_per_sequence must be a positive integer; received {frames_per_sequence!r}")
        if not isinstance(size, (int, np.integer)) or size < 64:
            raise ValueError(f"size must be an integer >= 64; received {size!r}")
        if not 0.0 <= missing_block_fraction <= 1.0:
            raise ValueError(f"missing_block_fraction must be in [0, 1]; received {missing_block_fraction!r}")
        if not isinstance(domain_randomisation, (bool, np.bool_)):
            raise ValueError(f"domain_randomisation must be True or False; received {domain_randomisation!r}")
        self.domain_randomisation = bool(domain_randomisation)
        self.frames_per_sequence = int(frames_per_sequence)
        self.size = int(size)
        self.missing_block_fraction = float(missing_block_fraction)
        self.wave = wave
        self.start = _dt.datetime.fromisoformat(start)

    def stamp(self) -> dict:
        """The base stamp; ``domain_randomisation`` appears in it only when on, so plain folders keep theirs."""
        st = super().stamp()
        if not self.domain_randomisation:
            st["options"].pop("domain_randomisation", None)
        return st

    # -- indexing -----------------------------------------------------------------------------------
    def sequence_of(self, index: int) -> int:
        return int(index) // self.frames_per_sequence

    def label_for(self, index: int) -> str:
        return self.classes[self.sequence_of(index) % len(self.classes)]

    def indices(self, n_sequences_per_class: int) -> range:
        """Sample indices covering `n_sequences_per_class` whole sequences of every class."""
        return range(0, n_sequences_per_class * len(self.classes) * self.frames_per_sequence)

    def time_of(self, index: int) -> _dt.datetime:
        seq = self.sequence_of(index)
        jitter = int(np.random.default_rng([self.seed, seq, 3]).integers(0, 3 * 3600))
        return (self.start + _dt.timedelta(hours=6 * seq, seconds=jitter)
                + _dt.timedelta(seconds=30.0 * (index % self.frames_per_sequence)))

    def filename(self, index: int, sample_label=None) -> str:
        label = sample_label or self.label_for(index)
        t = self.time_of(index)
        return f"{label}/FG{t:%Y%m%d_%H%M%S}.{t.microsecond // 100000}.fits.gz"

    # -- scenes ---------------------------------------------------------------------------------------
    def _scene(self, seq: int, label: str) -> tuple[np.ndarray, dict]:
        """The noiseless scene of a sequence on a padded canvas, in units of the quiet-Sun level."""
        rng = np.random.default_rng([self.seed, seq, 1])
        n = self.size + 2 * self._pad
        shape = (n, n)
        img = 1.0 + 0.06 * _smooth_noise(rng, shape, rng.uniform(5, 9)) \
            + 0.04 * _smooth_noise(rng, shape, rng.uniform(2.5, 4), anisotropy=2.5, angle=rng.uniform(0, np.pi))
        yy, xx = np.mgrid[0:n, 0:n].astype(float)
        dr = self.domain_randomisation
        drng = np.random.default_rng([self.seed, seq, 4])   # the randomised choices (plain frames draw none)
        if dr:  # photospheric granulation (cells ~1-2"), at a random contrast, under every class
            gran = np.tanh(1.5 * _smooth_noise(drng, shape, drng.uniform(1.5, 3.5)))
            img = img + drng.uniform(0.0, 0.12) * gran
        # bright network points (all classes)
        for _ in range(rng.integers(3, 9)):
            y0, x0 = rng.uniform(0, n, 2)
            img += 0.15 * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * rng.uniform(3, 7) ** 2))
        xcen, ycen = rng.uniform(-600, 600), rng.uniform(-500, 500)
        if dr and label != "prominences" and drng.uniform() < 0.5:  # pores: class overlap for every on-disk class
            for _ in range(drng.integers(1, 4)):
                y0, x0 = drng.uniform(0.05, 0.95, 2) * n
                rr = drng.uniform(0.006, 0.02) * n
                img = img * (1 - drng.uniform(0.2, 0.55) / (1 + np.exp((np.hypot(yy - y0, xx - x0) - rr) / 1.5)))
        if label == "sunspots" and dr:
            for k in range(drng.integers(1, 3)):
                cy, cx = drng.uniform(0.2, 0.8, 2) * n if k == 0 else drng.uniform(0.1, 0.9, 2) * n
                rp = drng.uniform(0.06, 0.16) * n * (1.0 if k == 0 else drng.uniform(0.4, 0.8))
                ru = rp * drng.uniform(0.3, 0.55)
                r = np.hypot(yy - cy, xx - cx)
                theta = np.arctan2(yy - cy, xx - cx)
                rough = (1 + drng.uniform(0.03, 0.12) * np.sin(theta * drng.integers(2, 6) + drng.uniform(0, 6))
                         + drng.uniform(0.04, 0.12) * _smooth_noise(drng, shape, 15))
                pen = 1 / (1 + np.exp((r - rp * rough) / drng.uniform(1.5, 4.0)))
                umb = np.zeros(shape)
                for j in range(drng.integers(1, 5)):  # umbral cores, split by light bridges
                    a, off = drng.uniform(0, 2 * np.pi), (0.0 if j == 0 else drng.uniform(0.2, 0.7) * ru)
                    rj = ru * (1.0 if j == 0 else drng.uniform(0.3, 0.7))
                    dj = np.hypot(yy - cy - off * np.sin(a), xx - cx - off * np.cos(a))
                    umb = np.maximum(umb, 1 / (1 + np.exp((dj - rj * rough) / 1.5)))
                pen_level = drng.uniform(0.55, 0.88)
                umb_level = pen_level * drng.uniform(0.3, 0.75)
                fibrils = 1 + drng.uniform(0.04, 0.15) * np.sin(theta * drng.integers(40, 90)
                                                                 + 2 * _smooth_noise(drng, shape, 10))
                img = img * (1 - pen * (1 - pen_level * fibrils)) * (1 - umb * (1 - umb_level / pen_level))
        elif label == "sunspots":
            for k in range(rng.integers(1, 3)):
                cy, cx = rng.uniform(0.3, 0.7, 2) * n if k == 0 else rng.uniform(0.15, 0.85, 2) * n
                ru = rng.uniform(0.05, 0.09) * n * (1.0 if k == 0 else 0.6)
                rp = ru * rng.uniform(1.9, 2.5)
                r = np.hypot(yy - cy, xx - cx)
                theta = np.arctan2(yy - cy, xx - cx)
                rough = (1 + 0.05 * np.sin(theta * rng.integers(2, 5) + rng.uniform(0, 6))
                         + 0.04 * _smooth_noise(rng, shape, 15))
                pen = 1 / (1 + np.exp((r - rp * rough) / 2.0))
                umb = 1 / (1 + np.exp((r - ru * rough) / 1.5))
                fibrils = 1 + 0.12 * np.sin(theta * rng.integers(40, 70) + 2 * _smooth_noise(rng, shape, 10))
                img = img * (1 - pen * (1 - 0.62 * fibrils)) * (1 - 0.6 * umb)
        elif label == "filaments":
            pts, normal, t = _curve(rng, 400, n, length=(0.8, 1.4), bend=0.3)
            d = _distance_to(pts, shape)
            # body FWHM ≈ 1.67·width = 28–56 px = 4.5–9 arcsec, as quiescent H-alpha filaments (5–15")
            width = rng.uniform(0.03, 0.06) * n
            ragged = 1 + 0.5 * _smooth_noise(rng, shape, 12)
            depth = rng.uniform(0.45, 0.6)
            if dr:  # fainter and narrower filaments too (class overlap with the quiet Sun)
                width, depth = width * drng.uniform(0.4, 1.0), drng.uniform(0.2, 0.6)
            body = np.exp(-(d / (width * np.clip(ragged, 0.3, None))) ** 2)
            img = img * (1 - depth * body)
            barbs = []
            for _ in range(rng.integers(2, 5)):  # barbs: short dark side branches (one distance map for all)
                j = rng.integers(20, 380)
                barbs.append(pts[j] + np.outer(np.linspace(0, rng.uniform(0.06, 0.12) * n, 40),
                                               normal * rng.choice([-1, 1]) + rng.normal(0, 0.3, 2)))
            bd = _distance_to(np.concatenate(barbs), shape)
            img = img * (1 - 0.35 * np.exp(-(bd / (0.4 * width)) ** 2))
        elif label == "flares":
            pts, normal, t = _curve(rng, 400, n, length=(0.5, 0.9), bend=0.2)
            sep = rng.uniform(0.1, 0.2) * n
            ribbons = np.concatenate([pts + sgn * 0.5 * sep * normal + rng.normal(0, 0.01 * n, 2) for sgn in (-1, 1)])
            d = _distance_to(ribbons, shape)
            w = rng.uniform(0.008, 0.018) * n
            knots = 1 + 0.6 * np.clip(_smooth_noise(rng, shape, 8), 0, None)
            amp = rng.uniform(1.2, 1.8) * (drng.uniform(0.3, 1.0) if dr else 1.0)  # dr: weaker ribbons too
            img = img + amp * knots * np.exp(-(d / w) ** 2)
            img = img + 0.25 * np.exp(-(d / sep) ** 2)  # plage brightening around the ribbons
        elif label == "prominences":
            angle = rng.uniform(0, 2 * np.pi)
            offset = rng.uniform(-0.15, 0.15) * n
            radius = 959.0 / PLATE_SCALE  # the solar radius in pixels at 0.16"/px
            # limb: a circle of the solar radius whose centre lies far outside the frame
            c = np.array([n / 2, n / 2]) - (radius + offset) * np.array([np.sin(angle), np.cos(angle)])
            r = np.hypot(yy - c[0], xx - c[1])
            height = r - radius  # > 0 above the limb
            disk = 1 / (1 + np.exp(height / 2.0))
            sky = 0.08 * (1 + 0.2 * _smooth_noise(rng, shape, 20))
            threads = np.clip(_smooth_noise(rng, shape, rng.uniform(3, 6), anisotropy=3.0,
                                            angle=angle + np.pi / 2 + rng.uniform(-0.5, 0.5)), 0, None)
            along = -(xx - n / 2) * np.sin(angle) + (yy - n / 2) * np.cos(angle)  # position along the limb
            foot = rng.uniform(-0.15, 0.15) * n
            span = rng.uniform(0.15, 0.3) * n
            top = rng.uniform(0.2, 0.35) * n
            envelope = np.exp(-((along - foot) / span) ** 2) * (height > 0) * np.exp(-height / top)
            prom = rng.uniform(0.5, 0.8) * envelope * (0.4 + threads)
            img = disk * img + (1 - disk) * (sky + prom)
            xcen = (radius + offset) * PLATE_SCALE * np.cos(angle)
            ycen = (radius + offset) * PLATE_SCALE * np.sin(angle)
        # "quiet": the background alone
        return img, {"XCEN": float(xcen), "YCEN": float(ycen)}

    _pad = 24
    _cache = None

    def sample(self, index: int, label=None) -> Sample:
        label = label or self.label_for(index)
        if label not in self.classes:
            raise ValueError(f"label must be one of {self.classes}; received {label!r}")
        seq = self.sequence_of(index)
        frame = int(index) % self.frames_per_sequence
        if self._cache is not None and self._cache[0] == (seq, label):
            scene, pointing = self._cache[1]
        else:  # frames of one sequence share the scene: keep the last one
            scene, pointing = self._scene(seq, label)
            self._cache = ((seq, label), (scene, pointing))
        srng = np.random.default_rng([self.seed, seq, 2])
        drift = srng.normal(0, 1.2, 2)  # px per frame: solar rotation and pointing drift
        oy, ox = np.clip(np.round(self._pad + drift * frame), 0, 2 * self._pad).astype(int)
        img = scene[oy:oy + self.size, ox:ox + self.size]
        rng = self.rng(index)
        level = 500.0 * (1 + 0.03 * rng.standard_normal())    # seeing/transparency changes the level
        if self.domain_randomisation:
            img, level, noise, ccd = self._observe(img, seq, int(index), level)
        else:
            noise, ccd = 0.6, 0.01
        counts = level * img
        counts = counts + rng.normal(0, 1, counts.shape) * np.sqrt(np.maximum(counts, 1.0)) * noise + 2.0
        # a faint, fixed CCD pattern: this is Level 0, no flat field
        counts *= 1 + ccd * np.sin(np.arange(self.size) * 0.7)[None, :]
        if self.domain_randomisation:
            counts = self._bad_pixels(counts, int(index))
        data = np.clip(np.round(counts), 1, 4095).astype(">i2")
        missing = bool(rng.uniform() < self.missing_block_fraction)
        if missing:
            r0 = int(rng.integers(0, self.size - 32))
            data[r0:r0 + int(rng.integers(8, 32)), :] = 0
        t = self.time_of(index)
        header = {
            "TELESCOP": "HINODE", "INSTRUME": "SOT/NB", "OBS_TYPE": "FG (simple)", "WAVE": self.wave,
            "WAVEOFF": 0, "DATA_LEV": 0, "EXPTIME": 0.0512, "TIMESYS": "UTC",
            "DATE_OBS": t.isoformat(timespec="milliseconds"), "TIME-OBS": t.strftime("%H:%M:%S.%f")[:-3],
            "CTYPE1": "Solar-X", "CTYPE2": "Solar-Y", "CUNIT1": "arcsec", "CUNIT2": "arcsec",
            "CDELT1": PLATE_SCALE, "CDELT2": PLATE_SCALE, "XSCALE": PLATE_SCALE, "YSCALE": PLATE_SCALE,
            "CRPIX1": (self.size + 1) / 2, "CRPIX2": (self.size + 1) / 2,
            "CRVAL1": round(pointing["XCEN"], 3), "CRVAL2": round(pointing["YCEN"], 3),
            "XCEN": round(pointing["XCEN"], 3), "YCEN": round(pointing["YCEN"], 3),
            "FOVX": self.size * PLATE_SCALE, "FOVY": self.size * PLATE_SCALE, "CROTA1": 0.0, "CROTA2": 0.0,
            "CAMPSUM": 2, "CAMSSUM": 2,
            "ORIGIN": "solarcnn synthetic", "SYNTHETI": True, "SEQ_ID": seq, "SEQ_POS": frame,
        }
        return Sample(data=data, label=label, meta=header, extra={"missing_block": missing})

    def _observe(self, img, seq: int, index: int, level: float):
        """Domain randomisation of one frame's observing conditions: seeing, exposure, noise, gradient, dust.

        Returns ``(image, level [DN], noise factor, CCD-pattern amplitude)``.
        """
        from scipy import ndimage

        srng = np.random.default_rng([self.seed, seq, 5])     # the sequence's conditions
        frng = np.random.default_rng([self.seed, index, 6])   # this frame's
        seeing = max(0.0, srng.uniform(0.0, 3.0) + frng.normal(0, 0.4))   # Gaussian blur sigma [px]
        if seeing > 0.05:
            img = ndimage.gaussian_filter(img, seeing, mode="reflect")
        n = img.shape[0]
        yy, xx = np.mgrid[0:n, 0:n] / n - 0.5
        a = srng.uniform(0, 2 * np.pi)
        ramp = srng.uniform(0.0, 0.2) * (xx * np.cos(a) + yy * np.sin(a))      # limb darkening across the field
        vignette = srng.uniform(0.0, 0.15) * (xx ** 2 + yy ** 2)
        img = img * (1 + ramp - vignette)
        for _ in range(int(srng.integers(0, 4))):   # dust on the optics: faint dark rings, fixed in the sequence
            y0, x0 = srng.uniform(0, n, 2)
            rr, w = srng.uniform(4, 14), srng.uniform(1.0, 3.0)
            img = img * (1 - srng.uniform(0.02, 0.06) * np.exp(-((np.hypot(yy * n + n / 2 - y0, xx * n + n / 2 - x0)
                                                                    - rr) / w) ** 2))
        level = float(np.exp(srng.uniform(np.log(150.0), np.log(1500.0)))) * level / 500.0
        return img, level, float(srng.uniform(0.3, 3.0)), float(srng.uniform(0.0, 0.03))

    def _bad_pixels(self, counts, index: int):
        """Domain randomisation: a few hot or cold pixels in half the frames (they move the byte-scaling)."""
        frng = np.random.default_rng([self.seed, index, 7])
        if frng.uniform() < 0.5:
            k = int(frng.integers(1, 8))
            iy, ix = frng.integers(0, self.size, (2, k))
            med = float(np.median(counts))
            counts = counts.copy()
            counts[iy, ix] = med * np.where(frng.uniform(size=k) < 0.5, frng.uniform(0.1, 0.5, k),
                                            frng.uniform(1.5, 2.5, k))
        return counts

    def save(self, sample: Sample, path: Path) -> Path:
        """Write the real files' layout: HDU0 the image, HDU1 a 560-byte ``XTENSION='DUMP'`` extension.

        The real SOT Level-0 files carry raw telemetry bytes in a non-standard
        ``DUMP`` extension after the image (astropy reads it as a
        ``NonstandardExtHDU``). Here its 560 bytes hold an ASCII note saying
        they are a synthetic placeholder, then zeros. Written gzip-compressed
        (deterministic: no time stamp in the gzip header) and atomically.
        """
        import gzip
        import io

        from astropy.io import fits

        header = fits.Header()
        for k, v in sample.meta.items():
            header[k] = v
        header["COMMENT"] = "SYNTHETIC DATA written by solarcnn.synthetic.sot (not a Hinode observation)."
        primary = fits.PrimaryHDU(data=np.asarray(sample.data), header=header)
        primary.header["EXTEND"] = True
        buf = io.BytesIO()
        primary.writeto(buf)
        buf.write(dump_extension_bytes())
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = buf.getvalue()
        payload = gzip.compress(raw, compresslevel=6, mtime=0) if path.name.lower().endswith(".gz") else raw
        atomic_write_bytes(path, payload)
        return path


DUMP_BYTES = 560  # size of the real files' DUMP extension (raw telemetry)


def dump_extension_bytes(note: str = "solarcnn synthetic DUMP placeholder; real SOT Level-0 files hold raw "
                                     "telemetry bytes here") -> bytes:
    """A FITS ``XTENSION='DUMP'`` extension (header block + 560 data bytes, padded to 2880) as raw bytes."""
    from astropy.io import fits

    hdr = fits.Header([("XTENSION", "DUMP", "synthetic, like the real SOT Level-0 files"), ("BITPIX", 8),
                       ("NAXIS", 1), ("NAXIS1", DUMP_BYTES), ("PCOUNT", 0), ("GCOUNT", 1)])
    data = note.encode("ascii")[:DUMP_BYTES].ljust(DUMP_BYTES, b"\0")
    block = fits.Header.tostring(hdr, sep="", endcard=True, padding=True).encode("ascii")
    return block + data + b"\0" * (-len(data) % 2880)
