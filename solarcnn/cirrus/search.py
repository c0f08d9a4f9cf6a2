"""Hyperparameter search for the CIRRUS U-Net with Optuna (notebook 07).

The CIRRUS team tuned its clear/cloudy classifier with Optuna and planned the same for the segmentation U-Net
("Implémenter optimisation des hyperparamètres avec Optuna", ``reference/cirrus.md`` §6 and the project README).
This module holds the reusable pieces of that search:

- `Param`, `SearchSpace`, `unet_search_space`: a declared, validated search space (what a trial may try);
- `prepare_segmentation`, `SegmentationData`: the masked frames, split by sequence, reduced and normalised;
- `train_unet`: one configuration → a trained `build_cirrus_unet` (used by every trial and by the re-training);
- `ValidationIoU`: a callback that writes the validation IoU into the epoch logs;
- `PruningCallback`: reports a logged metric to an Optuna trial each epoch and raises `optuna.TrialPruned`
  (``keras`` callbacks only, so it works on every backend; no ``optuna-integration`` needed);
- `make_objective`, `make_study`, `param_importances`, `trials_table`;
- plots: `plot_optimization_history`, `plot_param_importances`, `plot_intermediate_values` (matplotlib only).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runtime import clear_session
from ..utils import block_mean

KINDS = ("log_float", "float", "int", "categorical")
INPUT_NORMS = ("frame", "bitdepth")
DEFAULT_MONITOR = "val_iou"


# --------------------------------------------------------------------------------------------- search space
@dataclass(frozen=True)
class Param:
    """One searched hyperparameter.

    Args:
        name: the name Optuna records (and the key of the configuration dict).
        kind: ``"log_float"`` (uniform in log space, e.g. a learning rate), ``"float"``, ``"int"`` or
            ``"categorical"``.
        low, high: the range of numeric kinds (both ends included); ``0 < low < high`` for ``"log_float"``.
        choices: the values of a ``"categorical"`` parameter.
        note: a few words for the printed table.

    Raises:
        ValueError: unknown kind, empty or reversed range, non-positive log range, missing or repeated choices.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    note: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Param: name must be an identifier; Received: name={self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"Param {self.name!r}: kind must be one of {KINDS}; Received: kind={self.kind!r}")
        if self.kind == "categorical":
            choices = tuple(self.choices)
            if not choices:
                raise ValueError(f"Param {self.name!r}: a categorical parameter needs at least one choice; "
                                 f"Received: choices={self.choices!r}")
            if len(set(choices)) != len(choices):
                raise ValueError(f"Param {self.name!r}: choices must be distinct; Received: choices={self.choices!r}")
            object.__setattr__(self, "choices", choices)
            return
        if self.low is None or self.high is None:
            raise ValueError(f"Param {self.name!r}: a {self.kind} parameter needs low and high; "
                             f"Received: low={self.low!r}, high={self.high!r}")
        try:
            low, high = float(self.low), float(self.high)
        except (TypeError, ValueError):
            raise ValueError(f"Param {self.name!r}: low and high must be numbers; "
                             f"Received: low={self.low!r}, high={self.high!r}") from None
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ValueError(f"Param {self.name!r}: need finite low < high; Received: low={self.low!r}, "
                             f"high={self.high!r}")
        if self.kind == "log_float" and low <= 0:
            raise ValueError(f"Param {self.name!r}: a log-uniform range needs 0 < low < high (log of a "
                             f"non-positive number); Received: low={self.low!r}, high={self.high!r}")
        if self.kind == "int" and (low != int(low) or high != int(high)):
            raise ValueError(f"Param {self.name!r}: an int parameter needs integer ends; "
                             f"Received: low={self.low!r}, high={self.high!r}")

    def suggest(self, trial):
        """Ask an Optuna trial for a value of this parameter."""
        if self.kind == "log_float":
            return trial.suggest_float(self.name, float(self.low), float(self.high), log=True)
        if self.kind == "float":
            return trial.suggest_float(self.name, float(self.low), float(self.high))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        return trial.suggest_categorical(self.name, list(self.choices))

    def contains(self, value) -> bool:
        """Whether `value` lies in this parameter's range (or is one of its choices)."""
        if self.kind == "categorical":
            return value in self.choices
        return float(self.low) <= float(value) <= float(self.high)

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"one of {list(self.choices)}"
        kind = {"log_float": "log-uniform", "float": "uniform", "int": "integer"}[self.kind]
        return f"{kind} in [{self.low:g}, {self.high:g}]"


class SearchSpace:
    """An ordered set of `Param`s: what every trial samples, in the same order.

    Args:
        params: the parameters; names must be distinct.

    Raises:
        ValueError: no parameters, a non-`Param` entry, or repeated names.
    """

    def __init__(self, params):
        params = tuple(params)
        if not params:
            raise ValueError("SearchSpace: needs at least one Param; Received: params=()")
        bad = [p for p in params if not isinstance(p, Param)]
        if bad:
            raise ValueError(f"SearchSpace: entries must be Param objects; Received: {bad[0]!r}")
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"SearchSpace: parameter names must be distinct; Received: names={names}")
        self.params = params

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no parameter {name!r}; the search space has {self.names}")

    def __len__(self) -> int:
        return len(self.params)

    def suggest(self, trial) -> dict:
        """One configuration drawn through `trial` (``{name: value}``)."""
        return {p.name: p.suggest(trial) for p in self.params}

    def check(self, config: dict) -> dict:
        """Raise a ValueError naming the first key of `config` that is missing or outside the space."""
        for p in self.params:
            if p.name not in config:
                raise ValueError(f"configuration lacks {p.name!r}; Received: {config!r}")
            if not p.contains(config[p.name]):
                raise ValueError(f"configuration value {p.name}={config[p.name]!r} is outside the search space "
                                 f"({p.describe()})")
        return config

    def describe(self) -> str:
        """A fixed-width table of the space (deterministic text: fit for a checked notebook cell)."""
        width = max(len(n) for n in self.names)
        lines = [f"{'parameter':<{width}}  range"]
        for p in self.params:
            lines.append(f"{p.name:<{width}}  {p.describe()}" + (f"   ({p.note})" if p.note else ""))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.params)!r})"


def unet_search_space(*, learning_rate=(1e-4, 1e-2), dropout=(0.0, 0.5), base_filters=(8, 16, 32),
                      aug_fraction=(0.0, 0.5, 1.0)) -> SearchSpace:
    """The search space of notebook 07 for the CIRRUS U-Net.

    Args:
        learning_rate: (low, high) of Adam's learning rate, sampled log-uniformly (the original: 1e-3).
        dropout: (low, high) of the decoder dropout rate, uniform, within [0, 1) (the original: 0).
        base_filters: choices of the first level's width; the levels have (b, 2b, 4b) filters
            (the original: 64).
        aug_fraction: choices of augmented samples per real sample in each batch (the original: 1, i.e. 64 + 64).

    Raises:
        ValueError: a range that is reversed, not positive where it must be, or outside its domain;
            the message shows the received value.
    """
    def _pair(name, value):
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"unet_search_space: {name} must be a (low, high) pair; "
                             f"Received: {name}={value!r}") from None
        return low, high

    lr_low, lr_high = _pair("learning_rate", learning_rate)
    if not 0 < lr_low < lr_high:
        raise ValueError(f"unet_search_space: learning_rate needs 0 < low < high (it is sampled log-uniformly); "
                         f"Received: learning_rate={learning_rate!r}")
    d_low, d_high = _pair("dropout", dropout)
    if not 0 <= d_low < d_high < 1:
        raise ValueError(f"unet_search_space: dropout needs 0 <= low < high < 1; Received: dropout={dropout!r}")
    try:
        widths = tuple(int(b) for b in base_filters)
    except (TypeError, ValueError):
        raise ValueError(f"unet_search_space: base_filters must be positive integers; "
                         f"Received: base_filters={base_filters!r}") from None
    if not widths or min(widths) < 1 or any(int(b) != b for b in base_filters):
        raise ValueError(f"unet_search_space: base_filters must be a non-empty list of positive integers; "
                         f"Received: base_filters={base_filters!r}")
    try:
        fracs = tuple(float(a) for a in aug_fraction)
    except (TypeError, ValueError):
        raise ValueError(f"unet_search_space: aug_fraction must be numbers >= 0; "
                         f"Received: aug_fraction={aug_fraction!r}") from None
    if not fracs or min(fracs) < 0:
        raise ValueError(f"unet_search_space: aug_fraction must be a non-empty list of numbers >= 0; "
                         f"Received: aug_fraction={aug_fraction!r}")
    return SearchSpace([
        Param("learning_rate", "log_float", lr_low, lr_high, note="Adam step size"),
        Param("dropout", "float", d_low, d_high, note="before each decoder convolution"),
        Param("base_filters", "categorical", choices=widths, note="levels have (b, 2b, 4b) filters"),
        Param("aug_fraction", "categorical", choices=fracs, note="augmented samples per real sample"),
    ])


def unet_channels(base_filters: int, depth: int = 3) -> tuple:
    """The U-Net's filters per level for a base width: (b, 2b, 4b, ...)."""
    b = int(base_filters)
    if b < 1 or int(depth) < 1:
        raise ValueError(f"unet_channels: need base_filters >= 1 and depth >= 1; "
                         f"Received: base_filters={base_filters!r}, depth={depth!r}")
    return tuple(b * 2 ** i for i in range(int(depth)))


# --------------------------------------------------------------------------------------------- data
@dataclass
class SegmentationData:
    """Frames and masks split by sequence: images (N, H, W) float32, masks (N, H, W) int8, `valid` (H, W) bool
    (the pixels that count in the IoU; None: all)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    valid: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    groups_test: np.ndarray | None = None   # sequence id of each test frame (for a cluster bootstrap)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:]) + (1,)

    def describe(self) -> str:
        """Sizes of the three parts (deterministic text)."""
        h, w = self.x_train.shape[1:]
        lines = [f"input {h}x{w}x1"]
        for name, x, y in (("train", self.x_train, self.y_train), ("validation", self.x_val, self.y_val),
                           ("test", self.x_test, self.y_test)):
            seqs = self.info.get(f"{name}_sequences")
            extra = f" from {seqs} sequences" if seqs is not None else ""
            lines.append(f"{name:>10}: {len(x):3d} frames{extra}, cloud fraction {float(np.mean(y)):.3f}")
        return "\n".join(lines)


def reduce_pair(x, y, factor: int):
    """Block-average images (N, H, W) by `factor`; masks follow by majority (cloud if >= half the block)."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    try:
        f = int(factor)
    except (TypeError, ValueError):
        raise ValueError(f"reduce_pair: factor must be a positive integer; Received: factor={factor!r}") from None
    if f != factor or f < 1:
        raise ValueError(f"reduce_pair: factor must be a positive integer; Received: factor={factor!r}")
    if x.ndim != 3 or x.shape != y.shape:
        raise ValueError(f"reduce_pair: images and masks must both be (N, H, W); Received: {x.shape} and {y.shape}")
    n, h, w = x.shape
    if h % f or w % f:
        raise ValueError(f"reduce_pair: height and width ({h}, {w}) must be divisible by the factor; "
                         f"Received: factor={factor!r}")
    if f == 1:
        return x, y.astype(np.int8)
    xr = block_mean(x, (f, f))
    yr = (block_mean(y.astype(np.float32), (f, f)) >= 0.5).astype(np.int8)
    return xr.astype(np.float32), yr


def normalize(x, mode: str = "frame"):
    """Scale images (N, H, W) that are counts / 2¹⁴: ``"bitdepth"`` leaves them (the original's input);
    ``"frame"`` standardises each frame to zero mean and unit standard deviation (notebook 04's tiny choice)."""
    x = np.asarray(x, np.float32)
    if mode == "bitdepth":
        return x
    if mode == "frame":
        axes = tuple(range(1, x.ndim))
        return ((x - x.mean(axis=axes, keepdims=True)) / (x.std(axis=axes, keepdims=True) + 1e-6)).astype(np.float32)
    raise ValueError(f"normalize: mode must be one of {INPUT_NORMS}; Received: mode={mode!r}")


def prepare_segmentation(x, y, sequences, *, downsample: int = 1, input_norm: str = "bitdepth",
                         fractions=(0.7, 0.15, 0.15), seed: int = 42, valid=None,
                         max_train: int | None = None) -> SegmentationData:
    """Split masked frames by sequence (no sequence on two sides), then reduce and normalise them.

    Args:
        x: images (N, H, W), counts / 2¹⁴ (`solarcnn.cirrus.data.load_masked`).
        y: masks (N, H, W), 1 = cloud.
        sequences: sequence id of each frame (frames of one sequence stay together).
        downsample: block-average factor (2: 128×160 → 64×80).
        input_norm: ``"bitdepth"`` (original) or ``"frame"`` (per-frame standardisation).
        fractions: train / validation / test shares of the frames.
        seed: seed of the sequence permutation.
        valid: (H, W) mask of the pixels that count (the camera's field of view); reduced like the masks.
        max_train: keep at most this many training frames (whole sequences first, in split order); None: all.

    Raises:
        ValueError: mismatched shapes, a bad factor or normalisation, or too few sequences for three parts.
    """
    from .split import split_groups

    x = np.asarray(x)
    y = np.asarray(y)
    sequences = np.asarray(sequences)
    if x.shape != y.shape or x.ndim != 3 or len(sequences) != len(x):
        raise ValueError(f"prepare_segmentation: need images and masks (N, H, W) and N sequence ids; "
                         f"Received: {x.shape}, {y.shape}, {sequences.shape}")
    if input_norm not in INPUT_NORMS:
        raise ValueError(f"prepare_segmentation: input_norm must be one of {INPUT_NORMS}; "
                         f"Received: input_norm={input_norm!r}")
    if max_train is not None and int(max_train) < 1:
        raise ValueError(f"prepare_segmentation: max_train must be >= 1 or None; Received: max_train={max_train!r}")
    xr, yr = reduce_pair(x, y, downsample)
    xr = normalize(xr, input_norm)
    v = None
    if valid is not None:
        v = np.asarray(valid, bool)
        if v.shape != x.shape[1:]:
            raise ValueError(f"prepare_segmentation: valid must be (H, W) = {x.shape[1:]}; Received: {v.shape}")
        f = int(downsample)
        v = block_mean(v, (f, f)) >= 0.5
    parts = [np.array(p, int) for p in split_groups(np.arange(len(x)), sequences, fractions, seed=seed)]
    train, val, test = parts
    if max_train is not None and len(train) > int(max_train):
        train = train[:int(max_train)]
    info = {f"{n}_sequences": len(set(sequences[p].tolist())) for n, p in
            (("train", train), ("validation", val), ("test", test))}
    return SegmentationData(xr[train], yr[train], xr[val], yr[val], xr[test], yr[test], valid=v, info=info,
                            groups_test=sequences[test])


# --------------------------------------------------------------------------------------------- callbacks
def _callback_base():
    import keras

    return keras.callbacks.Callback


class ValidationIoU(_callback_base()):
    """Writes the micro-averaged cloud IoU of `x` (threshold 0.5) into the epoch logs as `name`.

    Put it **before** callbacks that read the value (`PruningCallback`); `History` then records it too.

    Args:
        x: validation images (N, H, W) or (N, H, W, 1).
        y: their masks (N, H, W), 1 = cloud.
        valid: (H, W) pixels that count (None: all).
        name: the log key (``"val_iou"``).
        from_logits: the model outputs logits (the double-conv U-Net) instead of probabilities.
    """

    def __init__(self, x, y, *, valid=None, name: str = DEFAULT_MONITOR, from_logits: bool = False,
                 batch_size: int = 32):
        super().__init__()
        x = np.asarray(x, np.float32)
        self.x = x[..., None] if x.ndim == 3 else x
        self.y = np.asarray(y)
        if len(self.x) != len(self.y) or self.x.shape[1:3] != self.y.shape[1:3]:
            raise ValueError(f"ValidationIoU: images and masks do not match; Received: {self.x.shape} and "
                             f"{self.y.shape}")
        self.valid = None if valid is None else np.asarray(valid, bool)[None]
        self.name, self.from_logits, self.batch_size = name, from_logits, int(batch_size)

    def score(self) -> float:
        from ..metrics.segmentation import iou

        p = np.asarray(self.model.predict(self.x, batch_size=self.batch_size, verbose=0))[..., 0]
        return float(iou(self.y.reshape(p.shape), p, valid=self.valid, threshold=0.0 if self.from_logits else 0.5))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.name] = self.score()


class PruningCallback(_callback_base()):
    """Report a logged metric to an Optuna trial after every epoch; stop the trial when the pruner says so.

    The trial's ``report(value, step=epoch)`` stores the learning curve; ``should_prune()`` asks the study's
    pruner (median, Hyperband, ...) whether this curve is worse than those of earlier trials at the same
    epoch. If so the callback raises ``optuna.TrialPruned``, which ends ``model.fit`` and which
    ``study.optimize`` records as a pruned trial. Only Keras callbacks are used, so any backend works.
    A non-finite value (a diverged run) prunes the trial at once.

    Args:
        trial: an ``optuna.trial.Trial`` (anything with ``report``, ``should_prune`` and ``number``).
        monitor: the log key to report (``"val_iou"``, from `ValidationIoU`; or ``"val_loss"``).
    """

    def __init__(self, trial, monitor: str = DEFAULT_MONITOR):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"PruningCallback: monitor must be a log key such as 'val_iou'; "
                             f"Received: monitor={monitor!r}")
        self.trial, self.monitor = trial, monitor

    def on_epoch_end(self, epoch, logs=None):
        import optuna

        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"PruningCallback: the epoch logs have no {self.monitor!r}; they have {sorted(logs)}. "
                           f"Compute it first (ValidationIoU before this callback, or validation_data in fit).")
        value = float(logs[self.monitor])
        number = getattr(self.trial, "number", "?")
        if not math.isfinite(value):
            raise optuna.TrialPruned(f"trial {number}: {self.monitor} = {value} at epoch {epoch + 1} (diverged)")
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"trial {number} pruned after epoch {epoch + 1}: {self.monitor} = {value:.4f}")


# --------------------------------------------------------------------------------------------- training
def train_unet(config: dict, data: SegmentationData, *, epochs: int, batch_size: int, seed: int = 42,
               callbacks=(), verbose: int = 0, monitor: str = DEFAULT_MONITOR, learning_rate=None):
    """Train one CIRRUS U-Net configuration (Adam, binary cross-entropy, real + augmented batches).

    Args:
        config: ``learning_rate``, ``dropout``, ``base_filters``, ``aug_fraction`` (see `unet_search_space`).
        data: the prepared frames.
        epochs: passes over the training frames.
        batch_size: real frames per batch; ``round(aug_fraction * batch_size)`` augmented ones are added.
        seed: weight initialisation, shuffling and augmentation seed (the same for every trial, so trials
            differ only by their hyperparameters).
        callbacks: extra Keras callbacks, run **after** the `ValidationIoU` that logs `monitor`.
        learning_rate: None (the constant ``config["learning_rate"]``, the original's) or a Keras
            ``LearningRateSchedule`` used instead (e.g. `solarcnn.training.schedules.OneCycleLR`).

    Returns:
        (model, history dict), the history holding ``loss`` and `monitor` per epoch.
    """
    import keras

    from ..models.cirrus import build_cirrus_unet
    from .augment import CloudBatches

    missing = {"learning_rate", "dropout", "base_filters", "aug_fraction"} - set(config)
    if missing:
        raise ValueError(f"train_unet: config lacks {sorted(missing)}; Received: config={config!r}")
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"train_unet: epochs and batch_size must be >= 1; Received: epochs={epochs!r}, "
                         f"batch_size={batch_size!r}")
    keras.utils.set_random_seed(int(seed))
    model = build_cirrus_unet(data.input_shape, channels=unet_channels(config["base_filters"]),
                              dropout=float(config["dropout"]))
    aug = int(round(float(config["aug_fraction"]) * int(batch_size)))
    batches = CloudBatches(data.x_train, data.y_train, batch_size=int(batch_size), aug_batch_size=aug, seed=int(seed))
    if learning_rate is not None and not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(f"train_unet: learning_rate must be None or a keras LearningRateSchedule; "
                         f"Received: learning_rate={learning_rate!r}")
    lr = float(config["learning_rate"]) if learning_rate is None else learning_rate
    from ..training.optimizers import Adam   # Keras' Adam, with TensorFlow's fused update kernel there

    model.compile(optimizer=Adam(lr),
                  loss=keras.losses.BinaryCrossentropy())
    cbs = [ValidationIoU(data.x_val, data.y_val, valid=data.valid, name=monitor), *callbacks]
    hist = model.fit(batches, epochs=int(epochs), callbacks=cbs, verbose=verbose)
    return model, dict(hist.history)


def heldout_predictions(model, data: SegmentationData) -> np.ndarray:
    """Cloud probabilities (N, H, W) of `model` on the held-out test frames."""
    return np.asarray(model.predict(data.x_test[..., None], verbose=0), np.float32)[..., 0]


def heldout_iou(model, data: SegmentationData) -> float:
    """Micro-averaged cloud IoU of `model` on the held-out test frames (inside `data.valid`)."""
    from ..metrics.segmentation import iou

    p = heldout_predictions(model, data)
    return float(iou(data.y_test, p, valid=None if data.valid is None else data.valid[None]))


def make_objective(space: SearchSpace, data: SegmentationData, *, epochs: int, batch_size: int, seed: int = 42,
                   monitor: str = DEFAULT_MONITOR, score: str = "last", verbose: int = 0):
    """The function Optuna maximises: sample a configuration, train it with pruning, return its validation IoU.

    Args:
        score: ``"last"`` (default): the value after the last epoch, i.e. what the configuration gives when
            trained for `epochs` epochs; an unstable run (a learning rate too high) is not rewarded for one
            lucky epoch. ``"max"``: the best epoch (as if the best-validation checkpoint were kept).

    Each trial starts from a cleared Keras session and the same seed. It stores ``n_params``, ``epochs_run``
    and ``seconds`` as user attributes. A pruned trial leaves its reported curve in the study.
    """
    if int(epochs) < 1:
        raise ValueError(f"make_objective: epochs must be >= 1; Received: epochs={epochs!r}")
    if score not in ("last", "max"):
        raise ValueError(f"make_objective: score must be 'last' or 'max'; Received: score={score!r}")

    def objective(trial) -> float:
        config = space.suggest(trial)
        clear_session()                      # keeps the precision policy (Keras' own resets it to float32)
        t0 = time.perf_counter()
        try:
            model, hist = train_unet(config, data, epochs=epochs, batch_size=batch_size, seed=seed,
                                     callbacks=[PruningCallback(trial, monitor)], verbose=verbose, monitor=monitor)
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - t0, 2))
        trial.set_user_attr("n_params", int(model.count_params()))
        trial.set_user_attr("epochs_run", len(hist[monitor]))
        return float(hist[monitor][-1] if score == "last" else max(hist[monitor]))

    return objective


def make_study(*, seed: int = 42, sampler: str = "tpe", pruner="median", storage=None,
               study_name: str = "cirrus_unet", n_startup_trials: int = 3, n_warmup_steps: int = 1,
               max_epochs: int | None = None, fresh: bool = True, min_resource: int = 1,
               reduction_factor: int = 3):
    """A maximising Optuna study with a seeded sampler and a pruner.

    Args:
        seed: sampler seed (the sequence of suggested configurations is reproducible).
        sampler: ``"tpe"`` (``TPESampler``, random for the first `n_startup_trials`) or ``"random"``.
        pruner: ``"median"`` (``MedianPruner``: stop a trial whose value at an epoch is below the median of
            earlier trials at that epoch), ``"hyperband"``, ``"none"``, or an Optuna pruner object.
        storage: None (in memory) or the path of a SQLite file (e.g. in ``solarcnn.work_dir(...)``).
        n_startup_trials: trials run to completion before the pruner and TPE act.
        n_warmup_steps: epochs of every trial that are never pruned.
        max_epochs: epochs per trial (Hyperband's maximum resource).
        min_resource, reduction_factor: Hyperband's first rung (epochs) and its eta: at each rung only the
            best 1/eta of the trials of a bracket go on (a trial is compared with those that reached the
            rung before it, so with few trials raise the number of trials or lower eta to 2).
        fresh: delete the SQLite file first, so that re-running starts a new study.
    """
    import optuna

    if sampler == "tpe":
        smp = optuna.samplers.TPESampler(seed=seed, n_startup_trials=int(n_startup_trials))
    elif sampler == "random":
        smp = optuna.samplers.RandomSampler(seed=seed)
    else:
        raise ValueError(f"make_study: sampler must be 'tpe' or 'random'; Received: sampler={sampler!r}")
    if isinstance(pruner, str):
        if pruner == "median":
            prn = optuna.pruners.MedianPruner(n_startup_trials=int(n_startup_trials),
                                              n_warmup_steps=int(n_warmup_steps))
        elif pruner == "hyperband":
            if int(min_resource) < 1 or int(reduction_factor) < 2:
                raise ValueError(f"make_study: Hyperband needs min_resource >= 1 and reduction_factor >= 2; "
                                 f"Received: min_resource={min_resource!r}, reduction_factor={reduction_factor!r}")
            prn = optuna.pruners.HyperbandPruner(min_resource=int(min_resource),
                                                 max_resource=int(max_epochs) if max_epochs else "auto",
                                                 reduction_factor=int(reduction_factor))
        elif pruner == "none":
            prn = optuna.pruners.NopPruner()
        else:
            raise ValueError(f"make_study: pruner must be 'median', 'hyperband', 'none' or a pruner object; "
                             f"Received: pruner={pruner!r}")
    elif isinstance(pruner, optuna.pruners.BasePruner):
        prn = pruner
    else:
        raise ValueError(f"make_study: pruner must be 'median', 'hyperband', 'none' or a pruner object; "
                         f"Received: pruner={pruner!r}")
    url = None
    if storage is not None:
        path = Path(storage)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            path.unlink(missing_ok=True)
        url = f"sqlite:///{path.resolve()}"
    return optuna.create_study(direction="maximize", sampler=smp, pruner=prn, storage=url, study_name=study_name,
                               load_if_exists=not fresh)


def _trials(study, *states):
    return [t for t in study.trials if t.state.name in states]


def param_importances(study, *, seed: int = 0) -> dict:
    """fANOVA importances of the searched parameters over the completed trials (seeded; they sum to 1).

    Raises:
        ValueError: fewer than two completed trials (nothing to compare).
    """
    import optuna

    done = _trials(study, "COMPLETE")
    if len(done) < 2:
        raise ValueError(f"param_importances: need at least 2 completed trials; the study has {len(done)} "
                         f"({len(study.trials)} trials in all). Run more trials or prune less.")
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def trials_table(study, monitor_label: str = "val IoU") -> str:
    """One line per trial: number, state, value (or last reported value, marked ``*``, with a footnote when
    a trial has one), epochs and parameters."""
    lines = [f"{'#':>3} {'state':<9} {monitor_label:>8} {'epochs':>6}  parameters"]
    starred = False
    for t in study.trials:
        if t.state.name == "PRUNED" and t.intermediate_values:   # (Optuna files this value as the trial's value)
            value = f"{t.intermediate_values[max(t.intermediate_values)]:7.3f}*"
            starred = True
        elif t.value is not None:
            value = f"{t.value:8.3f}"
        else:
            value = f"{'-':>8}"
        epochs = len(t.intermediate_values)
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        lines.append(f"{t.number:>3} {t.state.name.lower():<9} {value} {epochs:>6}  {params}")
    if starred:
        lines.append("(* the last value a pruned trial reported before it was stopped)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- plots
def _axes(ax, figsize=(6, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_optimization_history(study, *, ax=None, ylabel: str = "validation IoU (cloud class)"):
    """Objective value of every trial against its number, pruned trials at their last reported value,
    and the best value so far."""
    from matplotlib.ticker import MaxNLocator

    from ..plotting import OKABE_ITO

    ax = _axes(ax)
    done = _trials(study, "COMPLETE")
    pruned = [t for t in _trials(study, "PRUNED") if t.intermediate_values]
    ax.scatter([t.number for t in done], [t.value for t in done], color=OKABE_ITO[0], s=36, zorder=3,
               label="completed trial")
    if pruned:
        ax.scatter([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
                   color=OKABE_ITO[3], marker="x", s=40, zorder=3, label="pruned (last reported value)")
    if done:
        order = sorted(done, key=lambda t: t.number)
        best = np.maximum.accumulate([t.value for t in order])
        ax.step([t.number for t in order], best, where="post", color=OKABE_ITO[2], label="best so far")
    ax.set_xlabel("trial number")
    ax.set_ylabel(ylabel)
    ax.set_title("Optimisation history")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best")
    return ax


def plot_param_importances(importances: dict, *, ax=None):
    """Horizontal bars of parameter importances (e.g. from `param_importances`), largest on top."""
    from ..plotting import OKABE_ITO

    if not importances:
        raise ValueError("plot_param_importances: no importances to plot; Received: {}")
    ax = _axes(ax)
    items = sorted(importances.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in items], [v for _, v in items], color=OKABE_ITO[0])
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.2f}", va="center")
    ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
    ax.set_xlim(0, max(1.0, max(v for _, v in items) * 1.15))
    ax.set_title("Hyperparameter importances")
    return ax


def plot_intermediate_values(study, *, ax=None, ylabel: str = "validation IoU (cloud class)"):
    """The value each trial reported after every epoch: completed trials solid, pruned ones dashed."""
    from matplotlib.ticker import MaxNLocator

    from ..plotting import OKABE_ITO

    ax = _axes(ax)
    seen = set()
    for t in study.trials:
        if not t.intermediate_values:
            continue
        steps = sorted(t.intermediate_values)
        pruned = t.state.name == "PRUNED"
        label = "pruned trial" if pruned else "completed trial"
        ax.plot([s + 1 for s in steps], [t.intermediate_values[s] for s in steps], marker="o", ms=3,
                ls="--" if pruned else "-", color=OKABE_ITO[3] if pruned else OKABE_ITO[0], alpha=0.85,
                label=None if label in seen else label)
        seen.add(label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title("Learning curves reported to the pruner")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if seen:
        ax.legend(loc="best")
    return ax
