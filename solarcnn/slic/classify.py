"""Using a trained Slic model: classify files, traverse a data set, map a full-disk image.

Introduced in notebook 02. Slic's real use is *dataset traversal*: run the
classifier over a long time-ordered series of frames to find the ones that
contain a feature. Preprocessing at inference is, by default, the training
preprocessing (per-image byte-scaling and bicubic resize). The original
inference code resized the raw counts without byte-scaling (``utils.py``),
feeding a network trained on 0…255 with values of a few hundred DN; that
behaviour is kept as ``preprocessing="original"`` for comparison.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..models.slic import SLIC_CLASSES
from .prep import frame_problem, observation_time, preprocess, read_frame


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def load_model(model):
    """A Keras model, or the path of a ``.keras`` file."""
    import keras

    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.exists():
            raise DataFileError(path, "model file not found")
        try:
            return keras.saving.load_model(path)
        except Exception as exc:
            raise DataFileError(path, f"not a loadable Keras model ({type(exc).__name__}: {exc})") from exc
    return model


def prepare_input(image, size: int, preprocessing: str = "training") -> np.ndarray:
    """One image → a ``(size, size)`` float32 network input.

    ``"training"`` (default): byte-scale + Pillow bicubic, as in training.
    ``"original"``: the original inference path, scikit-image resize of the raw values, no byte-scaling.
    """
    if preprocessing == "training":
        return preprocess(image, size).astype("float32")
    if preprocessing == "original":
        from skimage.transform import resize

        return resize(np.asarray(image, dtype=np.float64), (size, size), anti_aliasing=True).astype("float32")
    raise ValueError(f"preprocessing must be 'training' or 'original'; received {preprocessing!r}")


@dataclass
class Prediction:
    file: str
    label: str
    probabilities: dict
    time: object = None

    def __str__(self) -> str:
        probs = " ".join(f"{k}={v:.3f}" for k, v in self.probabilities.items())
        return f"{self.file}: {self.label}  ({probs})"


def classify(files, model, *, classes=SLIC_CLASSES, preprocessing: str = "training",
             batch_size: int = 16) -> list[Prediction]:
    """Classify FITS files with a Slic model.

    Args:
        files: paths of FITS images (``.fits`` / ``.fits.gz``).
        model: a Keras model (logits output) or the path of a ``.keras`` file.
        classes: class names in label order.
        preprocessing: ``"training"`` (default) or ``"original"`` (see module docs).
        batch_size: images per forward pass.

    Returns:
        One `Prediction` per file (class name, softmax probabilities, ``DATE_OBS``).

    Raises:
        DataFileError: a file is unreadable, has NaN or is blank, or the model file is bad.
    """
    model = load_model(model)
    size = int(model.input_shape[1])
    if model.output_shape[-1] != len(classes):
        raise ValueError(f"the model has {model.output_shape[-1]} outputs but {len(classes)} class names were given")
    files = [Path(f) for f in files]
    x, times = [], []
    for f in files:
        data, meta = read_frame(f)
        problem = frame_problem(data)
        if problem and "zero pixel" not in problem:
            raise DataFileError(f, f"cannot classify: {problem}")
        x.append(prepare_input(data, size, preprocessing))
        times.append(observation_time(meta))
    if not x:
        return []
    logits = model.predict(np.stack(x)[..., None], batch_size=batch_size, verbose=0)
    probs = softmax(logits)
    return [Prediction(str(f), classes[int(np.argmax(p))], {c: float(v) for c, v in zip(classes, p)}, t)
            for f, p, t in zip(files, probs, times)]


def traverse(files, model, **kwargs) -> tuple[list, np.ndarray, list[Prediction]]:
    """Classify a series of frames in time order (``DATE_OBS``; file name when absent).

    Returns:
        ``(times, probabilities (N, n_classes), predictions)`` sorted by time.
    """
    preds = classify(files, model, **kwargs)
    import datetime as _dt

    preds.sort(key=lambda p: (p.time is None, p.time or _dt.datetime.min, p.file))
    probs = np.array([list(p.probabilities.values()) for p in preds])
    return [p.time for p in preds], probs, preds


def sliding_window_map(image, model, *, window: int, stride: int | None = None, mask=None,
                       min_mask_fraction: float = 0.5,
                       batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classify overlapping windows of a large image (e.g. a full-disk H-alpha frame).

    Each ``window``×``window`` patch is byte-scaled and resized to the model's
    input like a training frame. Patches with less than `min_mask_fraction` of
    their pixels in `mask` (e.g. on the disk), or that are blank, get NaN
    probabilities.

    Args:
        image: 2-D array.
        model: Keras model or ``.keras`` path.
        window: patch side in pixels.
        stride: step between patches (default ``window // 2``).
        mask: optional boolean array, True where patches may be classified.
        min_mask_fraction: the fraction of a patch that must lie in `mask`
            (1.0: only windows entirely inside it, e.g. fully on the disk).

    Returns:
        ``(probabilities (ny, nx, n_classes), y_centres, x_centres)`` in pixels.
    """
    model = load_model(model)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D; received shape {image.shape}")
    if not isinstance(window, (int, np.integer)) or not 8 <= window <= min(image.shape):
        raise ValueError(f"window must be an integer in [8, {min(image.shape)}]; received {window!r}")
    if not 0.0 < min_mask_fraction <= 1.0:
        raise ValueError(f"min_mask_fraction must be in (0, 1]; received {min_mask_fraction!r}")
    stride = stride or window // 2
    size = int(model.input_shape[1])
    ys = np.arange(0, image.shape[0] - window + 1, stride)
    xs = np.arange(0, image.shape[1] - window + 1, stride)
    out = np.full((len(ys), len(xs), model.output_shape[-1]), np.nan)
    batch, where = [], []
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            patch = image[y0:y0 + window, x0:x0 + window]
            if mask is not None and mask[y0:y0 + window, x0:x0 + window].mean() < min_mask_fraction:
                continue
            if not np.isfinite(patch).all() or patch.max() == patch.min():
                continue
            batch.append(preprocess(patch, size).astype("float32"))
            where.append((i, j))
    if batch:
        probs = softmax(model.predict(np.stack(batch)[..., None], batch_size=batch_size, verbose=0))
        for (i, j), p in zip(where, probs):
            out[i, j] = p
    return out, ys + window / 2, xs + window / 2
