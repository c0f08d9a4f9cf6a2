"""The training recipe of Pandey et al. (2023), in Keras 3 (backend-agnostic).

- `oversample_plan` + `FlareSequence`: the training set is six parts, flares x4
  (as is, horizontal flip, vertical flip, random rotation +-5 deg) and non-flares x2 (as is,
  one random choice of the three transforms), redrawn on every access; shuffled per epoch.
- `class_weights` and `WeightedCrossEntropy`: ``w_NF = 1 - 2 NF / (4 FL + 2 NF)``,
  ``w_FL = 1 - w_NF``; the batch loss is ``sum_i w_i l_i / sum_i w_i`` (PyTorch's weighted
  mean), not divided by the batch size.
- `TorchSGD`: PyTorch's SGD (``buf = mu buf + g + wd theta``; ``theta -= lr buf``) with coupled
  L2 weight decay on every parameter and a momentum that a callback may change per step.
- `one_cycle` and `OneCycleScheduler`: OneCycleLR (cosine, pct_start 0.3, div 25, final div 1e4)
  **with its momentum cycling 0.95 -> 0.85 -> 0.95**, stepped every batch. The original's SGD
  had momentum 0 nominally, but OneCycleLR writes the cycled momentum into it (spec §7.1), so
  the faithful optimiser is SGD with cycled momentum; ``cycle_momentum=False`` gives plain SGD.
- `is_better` and `SkillCheckpoint`: keep the epoch whose validation TSS improves while HSS2
  drops by at most 0.02.

The loss, the optimiser and the schedule live in `solarcnn.training` (``losses.WeightedMeanCrossEntropy``,
``optimizers.TorchSGD``, ``schedules.one_cycle`` / ``OneCycleScheduler``) and are re-exported here under
the names above; the oversampling, the class weights and the best-epoch rule are this track's own.
"""
from __future__ import annotations

import math

import keras
import numpy as np

from ..metrics.forecast import hss, predict_labels, tss
from ..training.losses import WeightedMeanCrossEntropy as WeightedCrossEntropy  # noqa: F401  (home: training)
from ..training.losses import weighted_mean_loss  # noqa: F401
from ..training.optimizers import TorchSGD  # noqa: F401  (home: training)
from ..training.schedules import OneCycleScheduler, _cos_anneal, one_cycle  # noqa: F401  (home: training)

FLARE_TRANSFORMS = ("none", "hflip", "vflip", "rotate")


# ----------------------------------------------------------------------------------------- data
def oversample_plan(labels, *, flare_factor: int = 4, nonflare_factor: int = 2) -> list[tuple[int, str]]:
    """The original's oversampling as a list of ``(index, transform)`` pairs.

    Flares (label 1): ``none, hflip, vflip, rotate`` (4 parts for ``flare_factor=4``).
    Non-flares: ``none`` plus ``nonflare_factor - 1`` parts of ``"choice"`` (a random one of
    hflip / vflip / rotate, redrawn on every access).
    """
    labels = np.asarray(labels).reshape(-1)
    if not 1 <= flare_factor <= 4:
        raise ValueError(f"flare_factor must be 1..4 (none, hflip, vflip, rotate); received {flare_factor}")
    if nonflare_factor < 1:
        raise ValueError(f"nonflare_factor must be >= 1; received {nonflare_factor}")
    fl, nf = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    plan = [(int(i), t) for t in FLARE_TRANSFORMS[:flare_factor] for i in fl]
    plan += [(int(i), "none") for i in nf] + [(int(i), "choice") for _ in range(nonflare_factor - 1) for i in nf]
    return plan


def rotate_nearest(image: np.ndarray, angle_deg: float, fill: float = 0.0) -> np.ndarray:
    """Rotate a 2-D (or H×W×C) image about its centre, nearest neighbour, no expansion, constant fill.

    Positive angles rotate counter-clockwise in the displayed image (origin upper, as torchvision).
    """
    h, w = image.shape[:2]
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.mgrid[0:h, 0:w].astype("float32")
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    # inverse map: output pixel -> source pixel
    xs = c * (xx - cx) - s * (yy - cy) + cx
    ys = s * (xx - cx) + c * (yy - cy) + cy
    xi, yi = np.rint(xs).astype(int), np.rint(ys).astype(int)
    ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out = np.full_like(image, fill)
    out[ok] = image[yi[ok], xi[ok]]
    return out


def apply_transform(image: np.ndarray, transform: str, rng: np.random.Generator, max_angle: float = 5.0):
    """Apply one of ``none, hflip, vflip, rotate, choice`` to an H×W(×C) image."""
    if transform == "choice":
        transform = FLARE_TRANSFORMS[1 + int(rng.integers(3))]
    if transform == "none":
        return image
    if transform == "hflip":
        return image[:, ::-1]
    if transform == "vflip":
        return image[::-1]
    if transform == "rotate":
        return rotate_nearest(image, float(rng.uniform(-max_angle, max_angle)))
    raise ValueError(f"unknown transform {transform!r}; expected one of {FLARE_TRANSFORMS + ('choice',)}")


class FlareSequence(keras.utils.PyDataset):
    """Batches of ``(images, one-hot-free int labels)`` with the original's oversampling.

    Args:
        images: uint8 array ``(N, H, W)`` or ``(N, H, W, 1)`` (8-bit magnetograms).
        labels: 0/1 array ``(N,)``.
        batch_size: batch size (64 in the paper).
        augment: True for the training set (six-part oversampling), False for validation (as is).
        seed: seeds the shuffling and the random transforms.
    """

    def __init__(self, images, labels, *, batch_size: int = 64, augment: bool = True, flare_factor: int = 4,
                 nonflare_factor: int = 2, seed: int = 0, shuffle: bool | None = None, **kwargs):
        super().__init__(**kwargs)
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[-1] != 1:
            raise ValueError(f"images must be (N, H, W) or (N, H, W, 1); received shape {images.shape}")
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; received {batch_size}")
        self.images, self.labels, self.batch_size = images, labels.astype("int32"), int(batch_size)
        self.augment = augment
        self.plan = (oversample_plan(labels, flare_factor=flare_factor, nonflare_factor=nonflare_factor)
                     if augment else [(i, "none") for i in range(len(labels))])
        self.shuffle = augment if shuffle is None else shuffle
        self.seed = int(seed)
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.plan))
        self._epoch = 0
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.plan) / self.batch_size)

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._order)
        self._epoch += 1

    def __getitem__(self, idx):
        sel = self._order[idx * self.batch_size:(idx + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self._epoch, int(idx)])
        x = np.stack([apply_transform(self.images[self.plan[j][0]], self.plan[j][1], rng) for j in sel])
        y = self.labels[[self.plan[j][0] for j in sel]]
        return x.astype("float32") / 255.0, y


def class_weights(n_nonflare: int, n_flare: int, *, flare_factor: int = 4, nonflare_factor: int = 2):
    """``(w_NF, w_FL)`` of the original: w_NF = FL share of the oversampled set, w_FL = 1 - w_NF."""
    if n_nonflare < 0 or n_flare < 0 or n_nonflare + n_flare == 0:
        raise ValueError(f"class counts must be >= 0 and not both 0; received NF={n_nonflare}, FL={n_flare}")
    ratio = 1.0 - nonflare_factor * n_nonflare / (flare_factor * n_flare + nonflare_factor * n_nonflare)
    return float(ratio), float(1.0 - ratio)


# -------------------------------------------------------------------------------- best epoch
def is_better(val_tss: float, val_hss: float, best_tss: float, best_hss: float, *, hss_drop: float = 0.02) -> bool:
    """The original's save rule: TSS improves and HSS2 falls by at most `hss_drop`.

    ``val_tss > best_tss and val_hss - best_hss >= -hss_drop`` (a 1e-12 slack makes a drop of
    exactly `hss_drop` count as allowed despite floating-point rounding).
    """
    return bool(val_tss > best_tss and (val_hss - best_hss) >= -hss_drop - 1e-12)


def predict_flare_probability(model, images, *, batch_size: int = 64) -> np.ndarray:
    """p(flare) = softmax(logits)[:, 1] for uint8 images ``(N, H, W[, 1])``."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    logits = model.predict(x.astype("float32") / 255.0, batch_size=batch_size, verbose=0)
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p[:, 1] / p.sum(axis=1)


class SkillCheckpoint(keras.callbacks.Callback):
    """Validation TSS/HSS2 after every epoch; keep (and finally restore) the best epoch's weights.

    Adds ``val_tss`` and ``val_hss`` to the epoch logs (so to the History).

    Args:
        images, labels: the validation set (uint8 images, 0/1 labels).
        restore_best: put the best epoch's weights back at the end of training.
    """

    def __init__(self, images, labels, *, batch_size: int = 64, hss_drop: float = 0.02, restore_best: bool = True):
        super().__init__()
        self.images, self.labels = images, np.asarray(labels).reshape(-1)
        self.batch_size, self.hss_drop, self.restore_best = batch_size, hss_drop, restore_best
        self.best_tss, self.best_hss, self.best_epoch, self.best_weights = -np.inf, -np.inf, None, None

    def on_epoch_end(self, epoch, logs=None):
        import warnings

        pred = predict_labels(predict_flare_probability(self.model, self.images, batch_size=self.batch_size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t, h = tss(self.labels, pred), hss(self.labels, pred)
        if logs is not None:
            logs["val_tss"], logs["val_hss"] = t, h
        if is_better(t, h, self.best_tss, self.best_hss, hss_drop=self.hss_drop):
            self.best_tss, self.best_hss, self.best_epoch = t, h, epoch + 1
            self.best_weights = [w.copy() for w in self.model.get_weights()]

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
