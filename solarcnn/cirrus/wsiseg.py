"""WSISEG: 75 genuine all-sky camera images with hand-drawn cloud masks (Xie et al. 2020, AMT 13, 1953).

Introduced in notebook 04, where the CIRRUS U-Net meets real data. The camera is a **visible-light RGB**
camera (not infrared), so the single input channel is the **red/blue ratio** used in the cloud-detection
literature (clear sky scatters blue strongly, R/B small; clouds are white-grey, R/B near 1; Long et al. 2006).
Annotation values: 255 cloud, 100 clear, 0 undefined (outside the field of view, obstructions, the Sun),
encoded here as 1, 0 and -1 (ignored by the loss and every metric).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DataFileError

SIZE = (120, 128)       # 450 × 480 reduced by 3.75: divisible by 8 for a three-level U-Net
IGNORE = -1
LITERATURE_THRESHOLD = 0.6   # R/B > 0.6 → cloud (Long et al. 2006, J. Atmos. Oceanic Technol. 23, 633)


def root() -> Path:
    """The WSISEG folder, through the data registry (``fetch("wsiseg")``)."""
    from ..data import fetch

    return Path(fetch("wsiseg"))


def _read_png(path, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    try:
        with Image.open(path) as im:
            if im.mode != mode:
                raise DataFileError(path, f"image mode is {im.mode!r}; expected {mode!r}")
            return np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFileError(path, f"not a readable PNG ({type(exc).__name__}: {exc})") from exc


def encode_annotation(ann, path="<array>") -> np.ndarray:
    """Map WSISEG annotation values 255/100/0 to 1 (cloud) / 0 (clear) / -1 (ignore).

    Raises:
        DataFileError: any other value (e.g. a JPEG-compressed or resized mask).
    """
    ann = np.asarray(ann)
    bad = np.setdiff1d(np.unique(ann), (0, 100, 255))
    if bad.size:
        raise DataFileError(path, f"annotation holds values {bad[:8].tolist()} besides 0, 100 and 255; "
                                  "masks must not be interpolated or JPEG-compressed")
    out = np.full(ann.shape, IGNORE, np.int8)
    out[ann == 255] = 1
    out[ann == 100] = 0
    return out


def red_blue_ratio(rgb) -> np.ndarray:
    """R / B per pixel (float32); B = 0 is treated as 1 count."""
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"red_blue_ratio expects an (H, W, 3) RGB image; received shape {rgb.shape}")
    return rgb[..., 0] / np.maximum(rgb[..., 2], 1.0)


FEATURES = ("ratio", "nbr", "saturation", "brightness")


def colour_features(rgb, features=("ratio",)) -> np.ndarray:
    """Per-pixel input channels derived from an RGB sky image, stacked as (H, W, C) float32.

    - ``ratio``: R / B, the classic red/blue ratio (clear sky small, cloud near 1; Long et al. 2006);
    - ``nbr``: the normalised blue-red difference (B − R) / (B + R), bounded in [−1, 1] (Li et al. 2011,
      J. Atmos. Oceanic Technol. 28, 1286), less sensitive than R/B to dark, noisy blue values;
    - ``saturation``: HSV saturation (max − min) / max: white-grey clouds are unsaturated;
    - ``brightness``: max(R, G, B) / 255.

    Raises:
        ValueError: not an (H, W, 3) image, or an unknown feature name.
    """
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"colour_features expects an (H, W, 3) RGB image; received shape {rgb.shape}")
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not len(features):
        raise ValueError(f"features must be a non-empty selection of {FEATURES}; received {tuple(features)!r}")
    r, b = rgb[..., 0], rgb[..., 2]
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    table = {"ratio": lambda: red_blue_ratio(rgb),
             "nbr": lambda: (b - r) / np.maximum(b + r, 1.0),
             "saturation": lambda: (mx - mn) / np.maximum(mx, 1.0),
             "brightness": lambda: mx / 255.0}
    return np.stack([table[f]() for f in features], axis=-1).astype(np.float32)


def upsample_probability(p, shape) -> np.ndarray:
    """Bilinear resize of (N, h, w) probability maps to (N, *shape), for scoring at the masks' full resolution."""
    p = np.asarray(p, np.float32)
    return np.stack([_resize(pi, tuple(shape), 1) for pi in p]).astype(np.float32)


def _resize(a, size, order):
    from skimage.transform import resize

    return resize(a, size, order=order, anti_aliasing=order > 0, preserve_range=True, mode="edge")


def load_wsiseg(folder=None, *, size=SIZE, features=None, keep_full: bool = False) -> dict:
    """Load the 75 images, masks and sky types, reduced to `size`.

    Returns a dict with ``rgb`` (N, H, W, 3) uint8, ``ratio`` (N, H, W) float32 R/B (0 outside the camera
    mask), ``labels`` (N, H, W) int8 in {1, 0, -1}, ``valid`` (labels != -1), ``names``, ``sky_type``.
    Images are reduced with anti-aliased linear interpolation, labels with nearest neighbour (order 0).
    With `features` (names from `FEATURES`), also ``features`` (N, H, W, C): `colour_features` computed at full
    resolution, 0 outside the camera mask, then reduced. With `keep_full`, also ``labels_full`` and
    ``ratio_full`` at the original 450 × 480, to score predictions at the masks' own resolution.

    Raises:
        DataFileError: a missing/unreadable file, wrong image size, a mask with unexpected values, or an image
            missing from ``sky_type_subset.csv``.
    """
    folder = Path(folder) if folder is not None else root()
    csv_path = folder / "sky_type_subset.csv"
    if not csv_path.exists():
        raise DataFileError(csv_path, "file not found (is this the WSISEG folder?)")
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "image_name" not in rows[0] or "sky_type" not in rows[0]:
        raise DataFileError(csv_path, "expected columns 'image_name' and 'sky_type'")
    sky = {Path(r["image_name"]).stem: r["sky_type"] for r in rows}
    cam = _read_png(folder / "mask_cam.png", "L") == 255
    names = sorted(p.stem for p in (folder / "images").glob("*.png"))
    if not names:
        raise DataFileError(folder / "images", "no PNG images found")
    rgbs, ratios, labels, feats, labels_full, ratios_full = [], [], [], [], [], []
    for n in names:
        ip, ap = folder / "images" / f"{n}.png", folder / "annotations" / f"{n}.png"
        rgb = _read_png(ip, "RGB")
        if rgb.shape[:2] != cam.shape:
            raise DataFileError(ip, f"image is {rgb.shape[:2]}, the camera mask {cam.shape}")
        lab = encode_annotation(_read_png(ap, "L"), ap)
        if lab.shape != cam.shape:
            raise DataFileError(ap, f"annotation is {lab.shape}, the image {cam.shape}")
        if n not in sky:
            raise DataFileError(csv_path, f"no sky_type row for image {n!r}")
        ratio = np.where(cam, red_blue_ratio(rgb), 0.0)
        rgbs.append(_resize(rgb, size, 1).astype(np.uint8))
        ratios.append(_resize(ratio, size, 1).astype(np.float32))
        labels.append(_resize(lab, size, 0).astype(np.int8))
        if features is not None:
            f = np.where(cam[..., None], colour_features(rgb, features), 0.0)
            feats.append(_resize(f, tuple(size) + (f.shape[-1],), 1).astype(np.float32))
        if keep_full:
            labels_full.append(lab)
            ratios_full.append(ratio.astype(np.float32))
    labels = np.stack(labels)
    out = {"rgb": np.stack(rgbs), "ratio": np.stack(ratios), "labels": labels, "valid": labels != IGNORE,
           "names": names, "sky_type": [sky[n] for n in names]}
    if features is not None:
        out["features"] = np.stack(feats)
        out["feature_names"] = tuple(features)
    if keep_full:
        out["labels_full"] = np.stack(labels_full)
        out["ratio_full"] = np.stack(ratios_full)
    return out


def held_out_split(sky_type, *, n_test: int = 15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed held-out set stratified by sky type: (train indices, test indices), disjoint.

    The images are 1-6 numbers apart in a 400-image database taken over many days, so consecutive-frame
    leakage is much weaker than in a one-minute sequence; stratifying keeps clear, partial and overcast skies
    on both sides.
    """
    sky_type = np.asarray(sky_type)
    rng = np.random.default_rng(seed)
    types = sorted(set(sky_type.tolist()))
    test = []
    for t in types:
        idx = np.flatnonzero(sky_type == t)
        k = int(round(n_test * len(idx) / len(sky_type)))
        test.extend(rng.permutation(idx)[:k].tolist())
    test = np.array(sorted(test))
    train = np.setdiff1d(np.arange(len(sky_type)), test)
    return train, test


def fit_ratio_threshold(ratio, labels, *, grid=None) -> float:
    """The R/B threshold (cloud where ratio > t) with the best micro IoU on the given (training) images."""
    from ..metrics.segmentation import iou

    grid = np.round(np.arange(0.30, 1.30, 0.01), 2) if grid is None else np.asarray(grid)
    labels = np.asarray(labels)
    valid = labels != IGNORE
    yt = np.where(valid, labels, 0)
    scores = [iou(yt, (ratio > t).astype(np.int8), valid=valid, threshold=None) for t in grid]
    return float(grid[int(np.argmax(scores))])


def ratio_threshold_predict(ratio, threshold: float = LITERATURE_THRESHOLD) -> np.ndarray:
    """The red/blue baseline: cloud (1) where R/B > threshold."""
    return (np.asarray(ratio) > threshold).astype(np.int8)
