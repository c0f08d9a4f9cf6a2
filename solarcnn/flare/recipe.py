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
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ..metrics.forecast import hss, predict_labels, tss

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


@keras.saving.register_keras_serializable(package="solarcnn")
class WeightedCrossEntropy(keras.losses.Loss):
    """Class-weighted softmax cross-entropy on logits, normalised by the sum of the weights.

    ``loss = sum_i w[y_i] * CE_i / sum_i w[y_i]`` over the batch, PyTorch's
    ``NLLLoss(weight=...)`` mean. (Keras ``class_weight`` would divide by the batch size.)

    Args:
        weights: per-class weights, ``(w_NF, w_FL)``.
    """

    def __init__(self, weights, name="weighted_cross_entropy", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.weights = [float(w) for w in weights]

    def call(self, y_true, y_pred):
        y_true = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        logp = ops.log_softmax(y_pred, axis=-1)
        onehot = ops.one_hot(y_true, len(self.weights), dtype=logp.dtype)
        nll = -ops.sum(onehot * logp, axis=-1)
        w = ops.take(ops.convert_to_tensor(self.weights, dtype=logp.dtype), y_true)
        return ops.sum(w * nll) / ops.maximum(ops.sum(w), 1e-12)

    def get_config(self):
        return {"weights": self.weights, "name": self.name}


def weighted_mean_loss(per_sample_losses, labels, weights) -> float:
    """NumPy reference of the weighted mean: ``sum w[y] l / sum w[y]``."""
    w = np.asarray(weights, float)[np.asarray(labels, int)]
    return float(np.sum(w * np.asarray(per_sample_losses, float)) / np.sum(w))


# ------------------------------------------------------------------------------------ optimiser
@keras.saving.register_keras_serializable(package="solarcnn")
class TorchSGD(keras.optimizers.Optimizer):
    """PyTorch-style SGD: coupled L2 weight decay and a momentum the schedule can change.

    Per variable, with ``g`` the gradient: ``d = g + weight_decay * theta``;
    ``buf = momentum * buf + d`` (dampening 0; ``buf = d`` on the first step);
    ``theta -= lr * buf``. ``momentum`` is a variable (`OneCycleScheduler` sets it every step).

    Args:
        learning_rate: initial learning rate (a schedule callback may overwrite it).
        momentum: initial momentum.
        weight_decay: coupled L2 coefficient on *all* trainable variables (biases and BN too).
    """

    def __init__(self, learning_rate=1e-4, momentum=0.0, weight_decay=0.0, name="torch_sgd", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be >= 0; received {momentum}, {weight_decay}")
        self.initial_momentum = float(momentum)
        self.l2 = float(weight_decay)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentum_var = self.add_variable(shape=(), initializer=keras.initializers.Constant(self.initial_momentum),
                                              name="momentum")
        self.buffers = [self.add_variable_from_reference(v, "momentum_buffer") for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        if self.l2:
            g = g + self.l2 * variable
        buf = self.buffers[self._get_variable_index(variable)]
        mu = ops.cast(self.momentum_var, variable.dtype)
        first = ops.cast(ops.equal(self.iterations, 0), variable.dtype)
        new_buf = first * g + (1.0 - first) * (mu * buf + g)
        self.assign(buf, new_buf)
        self.assign_sub(variable, lr * new_buf)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"momentum": self.initial_momentum, "weight_decay": self.l2})
        return cfg


# ------------------------------------------------------------------------------------- schedule
def _cos_anneal(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def one_cycle(step: int, total_steps: int, max_lr: float, *, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4, base_momentum: float = 0.85, max_momentum: float = 0.95,
              cycle_momentum: bool = True) -> tuple[float, float | None]:
    """Learning rate and momentum of PyTorch's ``OneCycleLR`` (two phases, cosine) at `step`.

    Phase 1, steps 0 .. 0.3T-1: lr max_lr/25 -> max_lr, momentum 0.95 -> 0.85.
    Phase 2, to step T-1: lr max_lr -> max_lr/25/1e4, momentum 0.85 -> 0.95.

    Returns:
        ``(lr, momentum)``; momentum is None when ``cycle_momentum=False``.
    """
    if total_steps < 2:
        raise ValueError(f"total_steps must be >= 2; received {total_steps}")
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, {total_steps - 1}]; received {step}")
    initial = max_lr / div_factor
    final = initial / final_div_factor
    end1 = float(pct_start * total_steps) - 1
    end2 = float(total_steps - 1)
    if step <= end1:
        pct = step / end1 if end1 > 0 else 1.0
        lr, mom = _cos_anneal(initial, max_lr, pct), _cos_anneal(max_momentum, base_momentum, pct)
    else:
        pct = (step - end1) / (end2 - end1)
        lr, mom = _cos_anneal(max_lr, final, pct), _cos_anneal(base_momentum, max_momentum, pct)
    return lr, (mom if cycle_momentum else None)


class OneCycleScheduler(keras.callbacks.Callback):
    """Set the learning rate (and the `TorchSGD` momentum) from `one_cycle` before every batch.

    Args:
        total_steps: epochs x steps per epoch.
        max_lr: the peak learning rate.
        cycle_momentum: also cycle the momentum (the original's hidden behaviour; needs `TorchSGD`).
        **kwargs: the other `one_cycle` arguments.
    """

    def __init__(self, total_steps: int, max_lr: float, *, cycle_momentum: bool = True, **kwargs):
        super().__init__()
        self.total_steps, self.max_lr, self.cycle_momentum, self.kwargs = total_steps, max_lr, cycle_momentum, kwargs
        self.step = 0
        self.history = {"lr": [], "momentum": []}

    def on_train_batch_begin(self, batch, logs=None):
        step = min(self.step, self.total_steps - 1)
        lr, mom = one_cycle(step, self.total_steps, self.max_lr, cycle_momentum=self.cycle_momentum, **self.kwargs)
        opt = self.model.optimizer
        opt.learning_rate.assign(lr)
        if mom is not None:
            if isinstance(opt, TorchSGD) and not opt.built:
                opt.build(self.model.trainable_variables)
            if not hasattr(opt, "momentum_var"):
                raise ValueError(f"cycle_momentum=True needs solarcnn.flare.TorchSGD; received {type(opt).__name__}")
            opt.momentum_var.assign(mom)
        self.history["lr"].append(lr)
        self.history["momentum"].append(mom)
        self.step += 1


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
