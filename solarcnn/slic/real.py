"""Sim-to-real: a Slic model trained on synthetic frames, measured on real observations.

Introduced in notebook 02. The synthetic SOT-like frames stand in for Slic's
training set (not public); the real images in the data registry say whether
what the model learnt transfers. `evaluate_real` classifies the 18 real
Hinode/SOT frames of a sunspot (two Fe I 5576 Å line scans, 2011-10-08; all
are, by their content, class ``sunspots``), prepared exactly as the training
frames (per-image byte-scaling and the bicubic resize of `prep.preprocess`),
and, optionally, patches of other real images whose class is known from what
they show:

- ``dkist_photosphere``: DKIST/VBI granulation, 3″ across; its four quadrants
  (granules with no spot, filament or flare in them) → ``quiet``. A hard
  case: at 0.01″/px a granule's dark lanes fill the frame, where an 82″ SOT
  frame shows granulation as fine texture;
- ``bbso_filaments``: windows of the real BBSO H-alpha full-disk image centred
  on its darkest elongated structures (the image's filaments, found by a
  threshold on the limb-flattened disk) → ``filaments``; and ``bbso_quiet``:
  windows on the disk far from any of them and from bright plage → ``quiet``.
  A 96-px window spans 218″ at 2.27″/px, about 2.7 times an SOT frame's field.

The SOT frames are photospheric (Fe I), not H-alpha like Slic's training
data; a sunspot looks alike in both, which is why they are a fair test of the
``sunspots`` class and of nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..models.slic import SLIC_CLASSES
from .classify import Prediction, classify, load_model, softmax
from .prep import preprocess

SOT_CLASS = "sunspots"   # what every real SOT example frame shows


@dataclass
class RealEvaluation:
    """Per-frame predictions on real images and their counts against the expected class.

    Attributes:
        predictions: one `Prediction` per real image or patch, in the order evaluated.
        expected: the expected class of each prediction.
        source: which real data set each prediction comes from (``"hinode_sot"``, ``"dkist_photosphere"``,
            ``"bbso_filaments"``, ``"bbso_quiet"``).
    """

    predictions: list = field(default_factory=list)
    expected: list = field(default_factory=list)
    source: list = field(default_factory=list)

    def of(self, source: str) -> "RealEvaluation":
        """The part of this evaluation that comes from `source`."""
        keep = [i for i, s in enumerate(self.source) if s == source]
        return RealEvaluation([self.predictions[i] for i in keep], [self.expected[i] for i in keep],
                              [self.source[i] for i in keep])

    @property
    def n(self) -> int:
        return len(self.predictions)

    @property
    def n_correct(self) -> int:
        """Images or patches labelled with their expected class."""
        return sum(p.label == e for p, e in zip(self.predictions, self.expected))

    @property
    def fraction_correct(self) -> float:
        return self.n_correct / self.n if self.n else float("nan")

    def counts(self) -> dict:
        """Predicted class → number of images or patches."""
        out = {c: 0 for c in SLIC_CLASSES}
        for p in self.predictions:
            out[p.label] = out.get(p.label, 0) + 1
        return out

    def summary(self) -> dict:
        """Per source: ``{"n", "expected", "n_correct", "counts"}``."""
        out = {}
        for s in dict.fromkeys(self.source):
            part = self.of(s)
            out[s] = {"n": part.n, "expected": sorted(set(part.expected)), "n_correct": part.n_correct,
                      "counts": part.counts()}
        return out

    def __str__(self) -> str:
        lines = []
        for s, v in self.summary().items():
            lines.append(f"{s}: {v['n_correct']} of {v['n']} labelled {'/'.join(v['expected'])}; predicted "
                         + ", ".join(f"{k} {c}" for k, c in v["counts"].items() if c))
        return "\n".join(lines)


def sot_files():
    """The 18 real Hinode/SOT sunspot frames (data registry ``hinode_sot``), sorted by name (= time)."""
    from ..data import fetch

    return sorted(fetch("hinode_sot").glob("FG*.fits.gz"))


def _patch_predictions(model, patches, names, size, batch_size=64):
    x = np.stack([preprocess(p, size).astype("float32") for p in patches])[..., None]
    probs = softmax(model.predict(x, batch_size=batch_size, verbose=0))
    return [Prediction(n, SLIC_CLASSES[int(np.argmax(p))], {c: float(v) for c, v in zip(SLIC_CLASSES, p)})
            for n, p in zip(names, probs)]


def dkist_quadrants():
    """The four quadrants of the real DKIST/VBI granulation image (quiet photosphere) and their names."""
    from ..data import fetch
    from ..io import read_fits

    img, _ = read_fits(fetch("solar_images", "dkist_photosphere.fits"))
    img = np.asarray(img, dtype=np.float64)
    h, w = img.shape[0] // 2, img.shape[1] // 2
    quads = [img[:h, :w], img[:h, w:], img[h:, :w], img[h:, w:]]
    return quads, [f"dkist_photosphere.fits[{n}]" for n in ("lower-left", "lower-right", "upper-left", "upper-right")]


def bbso_windows(window: int = 96, n_each: int = 6):
    """Windows of the real BBSO H-alpha full-disk image: on its filaments, and on quiet disk far from them.

    Filament pixels: on the disk (inside 0.9 of the radius), darker than the disk's median by more than
    4 robust standard deviations (MAD) after a median filter of 5 px, in connected regions of at least
    40 px. Filament windows are centred on the `n_each` largest regions. Quiet windows lie inside 0.85 of
    the radius with no filament pixel within half a window and no plage pixel (brighter than the median by
    more than 6 MAD) in them; `n_each` of them, spread over the disk.

    Returns:
        ``(filament_windows, filament_names, quiet_windows, quiet_names)``.
    """
    from scipy import ndimage

    from ..data import fetch
    from ..io import read_fits

    if not isinstance(window, (int, np.integer)) or not 16 <= window <= 512:
        raise ValueError(f"window must be an integer in [16, 512]; received {window!r}")
    img, hdr = read_fits(fetch("solar_images", "bbso_halpha_20020430_165555_cleaned.fits"))
    img = np.asarray(img, dtype=np.float64)
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    r = np.hypot(yy - float(hdr["CENTER_Y"]), xx - float(hdr["CENTER_X"])) / float(hdr["SOLAR_R"])
    inner = r < 0.9
    sm = ndimage.median_filter(img, 5)
    med = np.median(sm[inner])
    mad = 1.4826 * np.median(np.abs(sm[inner] - med))
    dark = inner & (sm < med - 4 * mad)
    lab, n = ndimage.label(dark)
    sizes = ndimage.sum(dark, lab, index=np.arange(1, n + 1))
    order = np.argsort(sizes)[::-1]
    half = window // 2
    fil, fil_names = [], []
    for k in order:
        if len(fil) >= n_each or sizes[k] < 40:
            break
        cy, cx = (int(round(c)) for c in ndimage.center_of_mass(dark, lab, k + 1))
        y0, x0 = cy - half, cx - half
        if y0 < 0 or x0 < 0 or y0 + window > img.shape[0] or x0 + window > img.shape[1]:
            continue
        if r[y0:y0 + window, x0:x0 + window].max() >= 1.0:
            continue
        fil.append(img[y0:y0 + window, x0:x0 + window])
        fil_names.append(f"bbso_halpha[y={cy},x={cx}] filament ({int(sizes[k])} px)")
    quiet, quiet_names = [], []
    bright = inner & (sm > med + 6 * mad)   # plage: not quiet Sun either
    near = ndimage.binary_dilation(dark, iterations=half // 2) | bright
    for y0 in range(0, img.shape[0] - window + 1, half):
        for x0 in range(0, img.shape[1] - window + 1, half):
            if r[y0:y0 + window, x0:x0 + window].max() >= 0.85 or near[y0:y0 + window, x0:x0 + window].any():
                continue
            quiet.append(img[y0:y0 + window, x0:x0 + window])
            quiet_names.append(f"bbso_halpha[y={y0 + half},x={x0 + half}] quiet")
    if len(quiet) > n_each:   # spread over the disk: every k-th
        pick = np.linspace(0, len(quiet) - 1, n_each).round().astype(int)
        quiet, quiet_names = [quiet[i] for i in pick], [quiet_names[i] for i in pick]
    return fil, fil_names, quiet, quiet_names


def evaluate_real(model, *, files=None, others: bool = False, window: int = 96) -> RealEvaluation:
    """Classify real images with a Slic model trained on synthetic frames (sim-to-real).

    Args:
        model: a Keras model (logits output) or the path of a ``.keras`` file.
        files: the real SOT frames (default: the 18 of the data registry's ``hinode_sot``, all ``sunspots``).
        others: also the patches of other real images (DKIST granulation → ``quiet``; BBSO H-alpha windows on
            filaments → ``filaments`` and on quiet disk → ``quiet``; see `bbso_windows`).
        window: the BBSO window side [px] (the notebook's sliding-window side).

    Returns:
        A `RealEvaluation`; ``.of("hinode_sot").n_correct`` is the number of SOT frames labelled sunspots.

    Raises:
        DataFileError: a file is unreadable or blank, or the model file is bad.
    """
    model = load_model(model)
    size = int(model.input_shape[1])
    files = sot_files() if files is None else list(files)
    preds = classify(files, model)   # training preprocessing: byte-scale + bicubic resize
    ev = RealEvaluation(list(preds), [SOT_CLASS] * len(preds), ["hinode_sot"] * len(preds))
    if others:
        quads, names = dkist_quadrants()
        ev.predictions += _patch_predictions(model, quads, names, size)
        ev.expected += ["quiet"] * len(quads)
        ev.source += ["dkist_photosphere"] * len(quads)
        fil, fil_names, quiet, quiet_names = bbso_windows(window)
        for patches, names, label, src in ((fil, fil_names, "filaments", "bbso_filaments"),
                                           (quiet, quiet_names, "quiet", "bbso_quiet")):
            if patches:
                ev.predictions += _patch_predictions(model, patches, names, size)
                ev.expected += [label] * len(patches)
                ev.source += [src] * len(patches)
    return ev
