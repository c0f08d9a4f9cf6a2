"""Synthetic long-wave infrared (8–14 µm) all-sky camera frames, written like the CIRRUS camera's FITS.

Introduced in notebook 03. Each file is a primary HDU of 512 × 640 **int16 counts in the 14-bit range**
(0 … 16383), the format of the CIRRUS camera (``reference/cirrus.md`` §1), with a header describing the
observation. The physics is deliberately simple, so that a student can reason about every feature:

- **Clear sky gets brighter toward the horizon.** The effective emissivity of a clear atmosphere along a
  path at zenith angle θ is ε(θ) = 1 − (1 − ε_z)^(1/cos θ): the path through the warm, humid lower
  atmosphere lengthens, so near the horizon the sky radiates almost like a black body at ambient temperature.
- **Clouds are warmer (brighter) than clear sky.** A cloud with base height h radiates at
  T_c = T_amb − 6.5 K/km · h with emissivity ε_c = 1 − exp(−τ); the camera sees
  ε_c σT_c⁴ + (1 − ε_c) L_sky. Contrast is largest near the zenith and vanishes toward the horizon.
- **The 8–14 µm window.** The camera sees the atmospheric window, where a clear sky is far more transparent
  than in the broadband infrared: zenith emissivities ε_z of 0.15–0.40 (dry to humid air) instead of the
  broadband 0.7–0.8. A clear sky is therefore cold and dark, and clouds (ε_c near 1) stand out strongly.
- **Lens field of view and obstruction.** An equidistant wide-angle lens (θ ∝ radius) with a circular image;
  its edge is at 45° zenith angle by default (a 90° field, like a camera looking up over a telescope dome,
  rather than a 180° fisheye that would see the near-horizon haze). Pixels beyond the lens circle and a mast
  crossing the field see the warm housing. The mask is fixed per camera (per `seed`).
- **Day and night.** Daytime frames are warmer and, when the Sun is up, show a saturated solar disc with glare.
- **Instrument effects** (after the CIRRUS synthetic generator): 300 ADU bias with 50 bad columns, Gaussian read
  noise 5 ADU, sky noise 10 ADU, fixed-pattern noise ±5 ADU, the narcissus effect (a blurred central disc,
  r = 160 px, σ = 80 px, +2.5 %).
- **Sequences.** Frames come in sequences (one per night/day) taken one minute apart, with clouds drifting
  slowly: consecutive frames are near-duplicates, which is why data splits must keep a sequence together
  (`solarcnn.cirrus.split`).

**Difficulty** (option ``difficulty``). ``"standard"`` (the default, the frames of notebooks 04 and 07) draws
thick low clouds (τ_max 2–8, base 0.3–1.5 km) on a clean sky: a CNN separates clear from cloudy perfectly, so
a held-out score says little. ``"hard"`` (notebook 03) adds what makes real clear/cloudy classification hard,
all drawn per sequence from a separate random stream (the standard frames are unchanged). Measured on notebook
03's 360 frames: the tiny CNN scored 0.86 on the held-out sequences in one float32 trial and 0.79 in the bf16
tiny run (its errors thin cirrus and some hazy clear skies), a threshold on the frame mean 0.57:
- **thin high cirrus**: 40 % of the cloudy sequences are cirrus at 6–11 km (cold, so little contrast) with
  τ_max log-uniform in 0.05–1.0 (ε_c at most 0.05–0.63), the others low or mid clouds at 0.3–4 km with
  τ_max 0.5–6; cloud cover 5–60 % (the ``cloud_fraction`` option is not used);
- **varying sky brightness**: zenith emissivity 0.10–0.50 and a **water-vapour haze** on clear and cloudy
  skies alike: a smooth random field (power-law spectrum, drifting with the wind) of emissivity amplitude
  up to 0.015, clear-sky structure with the look of a faint cloud;
- **instrument artefacts**: gain drift ×(0.94–1.06), bias offset ±100 ADU, a stray-light ramp of up to
  200 ADU across the frame (random direction), and twice the read and sky noise (10 and 20 ADU).
Hard frames carry two more header keywords, ``CLOUDTYP`` (NONE/LOW/CIRRUS) and ``TAUMAX``.

The true cloud mask of the simulation (ε_c > 0.3 inside the field of view) is returned in ``Sample.extra``
but not written: real cameras have no such truth, and the course derives its ground truth as CIRRUS did.

Physics version 3 (``VERSION``; header ``GENVERS``). **Counts** are a 300 ADU bias plus 25 ADU per W m⁻² of
scene radiance, so the coldest clear night sky (≈ 45 W m⁻²) still reads ≈ 1,400 ADU and the warmest housing
≈ 12,600 ADU: nothing under- or overflows the 14 bits except the Sun's disc.
Earlier versions, kept here because their failures teach something:
- version 1 (broadband ε_z 0.4–0.65, a 130° fisheye; ``AllSkyIR(eps_zenith=(0.4, 0.65), max_zenith_deg=65)``)
  made the horizon nearly as bright as a cloud, and the CIRRUS Otsu ground truth marked the whole outer ring as cloud;
- version 2 (window emissivities, 90° field, but counts = 300 + 25 (L − 110 W m⁻²)) drove a cold clear night sky
  below zero counts. Clipped at 0, the sky became a flat floor, and LogStretch(a = 10⁵) lifted every pixel just above
  it past Otsu's threshold: on low-cover night frames most of the clear sky was labelled cloud.
Measured (mean per-frame IoU of the Otsu masks against the simulation's clouds inside the field of view, the 120
cloudy frames of notebook 04's tiny set): version 1, 0.59 (16 frames); version 2, 0.854; version 3, 0.928. Version 3
still mislabels the warmer clear-sky rim on a few daytime frames, where ZScale's lower limit falls inside the clear
sky (the same weakness the method has on real data with a strong horizon gradient).
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from ..utils import block_mean
from .base import Sample, SyntheticGenerator, register

SIGMA_SB = 5.670374419e-8   # W m^-2 K^-4
SHAPE = (512, 640)
VERSION = 3                  # physics version, written to the header (GENVERS); bump when frames change
DR = 2 ** 14                 # 14-bit dynamic range
BIAS_ADU = 300.0             # counts at zero scene radiance
GAIN_ADU = 25.0              # counts per W m^-2 of scene radiance


def _power_law_noise(rng, shape, beta):
    """Gaussian random field with power spectrum ∝ k^-beta, zero mean, unit std."""
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k = np.sqrt(kx ** 2 + ky ** 2)
    k[0, 0] = 1.0
    amp = k ** (-beta / 2.0)
    amp[0, 0] = 0.0
    spec = (rng.standard_normal((shape[0], kx.shape[1])) + 1j * rng.standard_normal((shape[0], kx.shape[1]))) * amp
    field = np.fft.irfft2(spec, s=shape)
    return (field - field.mean()) / (field.std() + 1e-12)


@register
class AllSkyIR(SyntheticGenerator):
    """Long-wave infrared all-sky camera frames (512×640 14-bit FITS), clear or cloudy, day or night.

    Args:
        seed: fixes the camera (field-of-view mask, fixed-pattern noise) and, with the index, every frame.
        sequence_length: frames per sequence (one minute apart, same sky condition).
        labels: ``"alternate"`` (sequences alternate clear/cloudy), ``"cloudy"`` or ``"clear"``.
        cloud_fraction: (min, max) of the cloud cover drawn for cloudy frames.
        horizon_radius: radius in pixels of the lens circle (the edge of the field of view).
        max_zenith_deg: zenith angle at that circle (equidistant lens: θ = max_zenith · r / radius);
            45° by default, a 90° field of view (version 1 used 65°).
        eps_zenith: (min, max) of the clear-sky zenith emissivity in the 8–14 µm window, drawn per sequence;
            (0.15, 0.40) by default (version 1 used the broadband-like (0.4, 0.65)).
        difficulty: ``"standard"`` (default: today's frames) or ``"hard"`` (thin cirrus, haze, varying sky
            brightness and instrument artefacts; see the module docstring). Only a non-standard value enters
            the stamp, so folders of standard frames keep theirs.
    """

    DIFFICULTIES = ("standard", "hard")

    name = "allsky_ir"
    file_format = "fits"
    classes = ("clear", "cloudy")

    def __init__(self, seed: int = 0, *, sequence_length: int = 10, labels: str = "alternate",
                 cloud_fraction=(0.15, 0.9), horizon_radius: float = 290.0, max_zenith_deg: float = 45.0,
                 eps_zenith=(0.15, 0.40), difficulty: str = "standard"):
        super().__init__(seed)
        if difficulty not in self.DIFFICULTIES:
            raise ValueError(f"difficulty must be one of {self.DIFFICULTIES}; received {difficulty!r}")
        self._difficulty = difficulty
        if int(sequence_length) < 1:
            raise ValueError(f"sequence_length must be >= 1; received {sequence_length!r}")
        if labels not in ("alternate", "cloudy", "clear"):
            raise ValueError(f"labels must be 'alternate', 'cloudy' or 'clear'; received {labels!r}")
        lo, hi = (float(v) for v in cloud_fraction)
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError(f"cloud_fraction must be (min, max) with 0 < min <= max < 1; received {cloud_fraction!r}")
        if not 50 <= float(horizon_radius) <= 500:
            raise ValueError(f"horizon_radius must be in [50, 500] pixels; received {horizon_radius!r}")
        self.sequence_length = int(sequence_length)
        self.labels = labels
        self.cloud_fraction = (lo, hi)
        self.horizon_radius = float(horizon_radius)
        if not 10.0 <= float(max_zenith_deg) <= 90.0:
            raise ValueError(f"max_zenith_deg must be in [10, 90]; received {max_zenith_deg!r}")
        self.max_zenith = float(max_zenith_deg)
        e_lo, e_hi = (float(v) for v in eps_zenith)
        if not 0.0 < e_lo <= e_hi < 1.0:
            raise ValueError(f"eps_zenith must be (min, max) with 0 < min <= max < 1; received {eps_zenith!r}")
        self.eps_zenith = (e_lo, e_hi)
        cam = np.random.default_rng([self.seed, 10 ** 9])
        self._centre = (255.5 + cam.uniform(-4, 4), 319.5 + cam.uniform(-4, 4))
        yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(np.float64)
        dy, dx = yy - self._centre[0], xx - self._centre[1]
        r = np.hypot(dy, dx)
        self._theta = np.clip(r / self.horizon_radius, 0, 1) * np.deg2rad(self.max_zenith)
        # a mast: a straight band from the edge toward the centre at a camera-fixed azimuth
        az = cam.uniform(-np.pi, np.pi)
        along = dx * np.cos(az) + dy * np.sin(az)
        across = -dx * np.sin(az) + dy * np.cos(az)
        mast = (np.abs(across) < 9) & (along > 0.72 * self.horizon_radius)
        self._fov = (r < self.horizon_radius) & ~mast
        self._fixed_pattern = cam.uniform(-5, 5, SHAPE)
        self._bad_columns = cam.choice(SHAPE[1], 50, replace=False)
        self._bad_offsets = cam.uniform(20, 80, 50)
        disc = (r < 160).astype(float)
        from scipy.ndimage import gaussian_filter

        self._narcissus = gaussian_filter(disc, 80)
        self._narcissus = (self._narcissus / self._narcissus.max()).astype(np.float32)
        self._theta = self._theta.astype(np.float32)
        self._fixed_pattern = self._fixed_pattern.astype(np.float32)

    # ---------------------------------------------------------------- bookkeeping
    @property
    def difficulty(self) -> str:
        """``"standard"`` or ``"hard"`` (see the class docstring)."""
        return self._difficulty

    def stamp(self) -> dict:
        """The base stamp, plus ``difficulty`` when it is not ``"standard"`` (standard folders keep their stamp)."""
        out = super().stamp()
        if self._difficulty != "standard":
            out["options"]["difficulty"] = self._difficulty
        return out

    def sequence_of(self, index: int) -> tuple[int, int]:
        """(sequence number, frame number within it) of sample `index`."""
        return index // self.sequence_length, index % self.sequence_length

    def label_for(self, index: int):
        if self.labels != "alternate":
            return self.labels
        return self.classes[self.sequence_of(index)[0] % 2]

    def filename(self, index: int, sample_label=None) -> str:
        seq, frame = self.sequence_of(index)
        return f"lwir_s{seq:04d}_f{frame:03d}_flux.fits"

    def fov_mask(self, shape=SHAPE) -> np.ndarray:
        """The camera's field-of-view mask (True = sky), at full size or block-reduced to `shape`
        (a binned pixel counts as sky when at least half of its block is sky)."""
        if tuple(shape) == SHAPE:
            return self._fov.copy()
        fy, fx = SHAPE[0] // shape[0], SHAPE[1] // shape[1]
        if fy * shape[0] != SHAPE[0] or fx * shape[1] != SHAPE[1]:
            raise ValueError(f"shape must divide {SHAPE}; received {shape!r}")
        return block_mean(self._fov, (fy, fx)) >= 0.5

    # ---------------------------------------------------------------- physics
    def _sequence_params(self, seq: int, label: str) -> dict:
        rng = np.random.default_rng([self.seed, seq, 1])
        hour = float(rng.uniform(0, 24))
        day = 7.0 <= hour < 18.0
        p = {
            "hour": hour, "day": day,
            "t_amb": float(rng.uniform(285, 303) if day else rng.uniform(268, 290)),
            "eps_zenith": float(rng.uniform(*self.eps_zenith)),
            "cloud_fraction": float(rng.uniform(*self.cloud_fraction)) if label == "cloudy" else 0.0,
            "cloud_height_km": float(rng.uniform(0.3, 1.5)),
            "tau_max": float(rng.uniform(2.0, 8.0)),
            "beta": float(rng.uniform(2.8, 3.6)),
            "wind": rng.uniform(-1.5, 1.5, 2),       # px per minute
            "date": _dt.datetime(2023, 1, 1) + _dt.timedelta(days=seq, hours=hour),
        }
        if self._difficulty == "hard":
            p.update(self._hard_params(seq, label))
        return p

    def _hard_params(self, seq: int, label: str) -> dict:
        """The per-sequence draws of ``difficulty="hard"`` (a separate stream: standard draws are unchanged)."""
        rng = np.random.default_rng([self.seed, seq, 4])
        cirrus = bool(rng.uniform() < 0.4)
        height = float(rng.uniform(6.0, 11.0) if cirrus else rng.uniform(0.3, 4.0))
        tau = float(np.exp(rng.uniform(np.log(0.05), np.log(1.0))) if cirrus else rng.uniform(0.5, 6.0))
        cover = float(rng.uniform(0.05, 0.6))
        q = {"eps_zenith": float(rng.uniform(0.10, 0.50)),
             "haze": float(rng.uniform(0.0, 0.015)),
             "gain": float(rng.uniform(0.94, 1.06)),
             "offset": float(rng.uniform(-100.0, 100.0)),
             "ramp": float(rng.uniform(0.0, 200.0)),
             "ramp_az": float(rng.uniform(-np.pi, np.pi)),
             "cloud_type": "none"}
        if label == "cloudy":
            q.update({"cloud_type": "cirrus" if cirrus else "low", "cloud_height_km": height, "tau_max": tau,
                      "cloud_fraction": cover})
        return q

    def _haze_field(self, seq: int, frame: int, p: dict) -> np.ndarray:
        """Smooth unit-std random field of the hard mode's water-vapour haze, drifting with the wind."""
        from scipy.ndimage import zoom

        pad = 64
        half = ((SHAPE[0] + 2 * pad) // 2, (SHAPE[1] + 2 * pad) // 2)
        n = zoom(_power_law_noise(np.random.default_rng([self.seed, seq, 5]), half, 3.0).astype(np.float32), 2,
                 order=1)
        oy, ox = (np.round(p["wind"] * frame).astype(int) + pad) % (2 * pad)
        return n[oy:oy + SHAPE[0], ox:ox + SHAPE[1]]

    def _cloud_field(self, seq: int, frame: int, p: dict) -> np.ndarray:
        from scipy.ndimage import zoom

        pad = 64
        half = ((SHAPE[0] + 2 * pad) // 2, (SHAPE[1] + 2 * pad) // 2)   # smooth field: made at half size
        n1 = _power_law_noise(np.random.default_rng([self.seed, seq, 2]), half, p["beta"])
        n2 = _power_law_noise(np.random.default_rng([self.seed, seq, 3]), half, p["beta"])
        phase = 0.02 * frame                       # slow evolution
        n = zoom((np.cos(phase) * n1 + np.sin(phase) * n2).astype(np.float32), 2, order=1)
        oy, ox = (np.round(p["wind"] * frame).astype(int) + pad) % (2 * pad)
        n = n[oy:oy + SHAPE[0], ox:ox + SHAPE[1]]
        q = np.quantile(n[self._fov], 1.0 - p["cloud_fraction"])
        return p["tau_max"] * np.clip((n - q) / 0.3, 0.0, 1.0)   # optical depth, soft edges

    def sample(self, index: int, label=None) -> Sample:
        label = self.label_for(index) if label is None else label
        if label not in self.classes:
            raise ValueError(f"label must be one of {self.classes}; received {label!r}")
        seq, frame = self.sequence_of(index)
        p = self._sequence_params(seq, label)
        rng = self.rng(index)
        t_amb = p["t_amb"] + 0.02 * frame
        cos_t = np.cos(np.minimum(self._theta, np.deg2rad(89.5)))
        eps_sky = 1.0 - (1.0 - p["eps_zenith"]) ** (1.0 / cos_t)
        hard = self._difficulty == "hard"
        if hard:   # water-vapour haze: clear-sky structure on clear and cloudy frames alike
            eps_sky = np.clip(eps_sky + p["haze"] * self._haze_field(seq, frame, p), 0.0, 1.0)
        radiance = eps_sky * SIGMA_SB * t_amb ** 4
        cloud_truth = np.zeros(SHAPE, bool)
        if label == "cloudy":
            tau = self._cloud_field(seq, frame, p)
            eps_c = 1.0 - np.exp(-tau)
            t_cloud = t_amb - 6.5 * p["cloud_height_km"]
            radiance = eps_c * SIGMA_SB * t_cloud ** 4 + (1.0 - eps_c) * radiance
            cloud_truth = (eps_c > 0.3) & self._fov
        radiance = np.where(self._fov, radiance, SIGMA_SB * (t_amb + 2.0) ** 4)   # housing and mast
        counts = BIAS_ADU + GAIN_ADU * radiance
        if hard:   # instrument artefacts: gain drift, bias offset, a stray-light ramp across the frame
            yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(np.float32)
            along = ((xx - self._centre[1]) * np.cos(p["ramp_az"]) + (yy - self._centre[0]) * np.sin(p["ramp_az"]))
            counts = (BIAS_ADU + p["offset"] + p["gain"] * GAIN_ADU * radiance
                      + p["ramp"] * 0.5 * (1.0 + along / self.horizon_radius))
        sun_alt = 0.0
        if p["day"]:
            h = p["hour"] + frame / 60.0
            sun_alt = 60.0 * np.sin(np.pi * (h - 6.0) / 12.0)
            if sun_alt > 5:
                r_sun = (90.0 - sun_alt) / self.max_zenith * self.horizon_radius
                az = np.deg2rad(90.0 + 180.0 * (h - 6.0) / 12.0)
                sy, sx = self._centre[0] + r_sun * np.sin(az), self._centre[1] + r_sun * np.cos(az)
                d = np.hypot(np.arange(SHAPE[0])[:, None] - sy, np.arange(SHAPE[1])[None, :] - sx)
                counts = counts + 1500.0 * np.exp(-0.5 * (d / 25.0) ** 2)
                counts = np.where((d < 6) & self._fov, DR - 1, counts)
        counts = counts * (1.0 + 0.025 * self._narcissus)
        noise = 2.0 if hard else 1.0
        counts = (counts + self._fixed_pattern + rng.normal(0.0, 5.0 * noise, SHAPE)
                  + rng.normal(0.0, 10.0 * noise, SHAPE))
        counts[:, self._bad_columns] += self._bad_offsets
        data = np.clip(np.round(counts), 0, DR - 1).astype(np.int16)
        meta = {"label": label, "sequence": seq, "frame": frame, "day": p["day"], "t_amb": t_amb,
                "sun_alt": float(sun_alt), "eps_zenith": p["eps_zenith"],
                "cloud_fraction": float(cloud_truth.sum() / self._fov.sum()),
                "cloud_height_km": p["cloud_height_km"] if label == "cloudy" else 0.0,
                "date_obs": (p["date"] + _dt.timedelta(minutes=frame)).isoformat(timespec="seconds"),
                "index": index}
        if hard:
            meta.update({"cloud_type": p["cloud_type"], "tau_max": p["tau_max"] if label == "cloudy" else 0.0})
        return Sample(data=data, label=label, meta=meta, extra={"cloud_truth": cloud_truth, "fov": self._fov})

    def save(self, sample: Sample, path: Path) -> Path:
        from astropy.io import fits

        from ..io.fits import write_fits

        m = sample.meta
        hdr = fits.Header()
        hdr["INSTRUME"] = ("LWIR-ALLSKY-SIM", "synthetic 8-14 um all-sky camera (solarcnn)")
        hdr["IMGTYPE"] = ("SIMULATED", "synthetic frame, not an observation")
        hdr["DATE-OBS"] = (m["date_obs"], "UTC start of exposure")
        hdr["EXPTIME"] = (0.01, "[s] integration time")
        hdr["BUNIT"] = ("ADU", "raw counts, 14-bit range 0-16383")
        hdr["BITDEPTH"] = (14, "camera internal bit depth")
        hdr["AMBTEMP"] = (round(m["t_amb"], 2), "[K] ambient air temperature")
        hdr["SUNALT"] = (round(m["sun_alt"], 2), "[deg] solar altitude (0 at night)")
        hdr["DAYNIGHT"] = ("DAY" if m["day"] else "NIGHT", "time of day")
        hdr["SKYCOND"] = (m["label"].upper(), "simulated sky condition (CLEAR/CLOUDY)")
        hdr["CLOUDFRC"] = (round(m["cloud_fraction"], 4), "true cloud fraction inside the field of view")
        hdr["SEQID"] = (m["sequence"], "sequence number (frames 1 min apart)")
        hdr["FRAMENO"] = (m["frame"], "frame number within the sequence")
        hdr["GENERATR"] = (self.name, "solarcnn.synthetic generator")
        hdr["GENSEED"] = (self.seed, "generator seed")
        hdr["GENINDEX"] = (m["index"], "sample index")
        hdr["GENVERS"] = (VERSION, "generator physics version")
        if "cloud_type" in m:   # difficulty="hard" only (standard files keep their header)
            hdr["CLOUDTYP"] = (m["cloud_type"].upper(), "simulated cloud type (NONE/LOW/CIRRUS)")
            hdr["TAUMAX"] = (round(m["tau_max"], 4), "peak cloud optical depth (0 when clear)")
            hdr["GENDIFF"] = ("hard", "generator difficulty")
        return write_fits(path, sample.data, hdr)
