"""Checkpointing with mid-epoch resume for DeepCAM-style training (backend-agnostic).

`train_resumable` runs the training loop step by step (``model.train_on_batch``)
and every `checkpoint_every` optimizer steps writes, atomically, the model
weights, the optimizer's variables (moments, step counter) and the position
(epoch, batch) plus the loss history. The loader's order depends only on its
seed and the epoch (`CamDataset.set_epoch`), so a run killed at any point and
restarted with the same arguments continues from the last checkpoint and ends
with the same weights and losses as an uninterrupted run (up to the
floating-point determinism of the backend on the machine).

Steps go through `solarcnn.deepcam.distribute.train_on_batch`, so a model built in
`data_parallel(...)` trains data-parallel (on TensorFlow, ``model.train_on_batch``
alone would give every replica the whole batch), and at every epoch end the
BatchNorm running statistics are averaged over the replicas (``sync_bn=True``,
the reference's ``bnstats``). With per-replica BatchNorm on TensorFlow the
replicas' running statistics differ within an epoch; a mid-epoch checkpoint
stores the first replica's, so after a resume they differ from the uninterrupted
run's by a term that decays as momentum**steps (training-mode losses and the
trainable weights are unaffected: training normalises with batch statistics).
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

from ..utils import atomic_path, atomic_write_text


def _save_npz(path: Path, arrays: list) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, *arrays)


def save_checkpoint(directory, model, state: dict) -> Path:
    """Write weights, optimizer variables and `state` (JSON) into `directory`; the state file is written
    last, so a checkpoint is complete exactly when ``state.json`` names it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tag = f"step{int(state['global_step']):08d}"
    _save_npz(directory / f"{tag}.weights.npz", [np.asarray(v.numpy()) for v in model.weights])
    _save_npz(directory / f"{tag}.optimizer.npz", [np.asarray(v.numpy()) for v in model.optimizer.variables])
    state = {**state, "tag": tag}
    atomic_write_text(directory / "state.json", json.dumps(state, indent=1))
    for old in directory.glob("step*.npz"):           # keep only the newest checkpoint
        if not old.name.startswith(tag):
            old.unlink(missing_ok=True)
    return directory / "state.json"


def load_checkpoint(directory, model) -> dict | None:
    """Restore the newest checkpoint of `directory` into `model` (and its optimizer); return its state."""
    from ..errors import DataFileError

    path = Path(directory) / "state.json"
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataFileError(path, f"checkpoint state is not readable JSON, truncated or corrupt ({exc}); "
                                  "delete the checkpoint folder to start afresh") from None
    missing = [k for k in ("tag", "epoch", "batch", "global_step", "losses") if not isinstance(state, dict)
               or k not in state]
    if missing:
        raise DataFileError(path, f"checkpoint state lacks {missing}; not a state.json of save_checkpoint")
    tag = state["tag"]
    opt = model.optimizer
    if not opt.built:
        strategy = getattr(model, "distribute_strategy", None)     # TensorFlow: build in the strategy's scope
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            opt.build(model.trainable_variables)
    # all or nothing: both files are read and every shape is checked before the first value is assigned
    weights = _read_checked(Path(directory) / f"{tag}.weights.npz", model.weights, "weight arrays", "the model")
    opt_values = _read_checked(Path(directory) / f"{tag}.optimizer.npz", opt.variables, "optimizer arrays",
                               "the optimizer")
    for var, val in zip(model.weights, weights):
        var.assign(val)
    for var, val in zip(opt.variables, opt_values):
        var.assign(val)
    return state


def _read_checked(path: Path, variables, what: str, owner: str) -> list:
    """The arrays saved in `path` (``arr_0``, ``arr_1`` …), after checking their number and every shape
    against `variables` (nothing is assigned here)."""
    from ..errors import DataFileError

    if not path.exists():
        raise DataFileError(path, f"checkpoint file missing ({path.parent / 'state.json'} names it)")
    try:
        with np.load(path) as data:
            values = [data[f"arr_{i}"] for i in range(len(data.files))]
    except Exception as exc:   # zipfile.BadZipFile, EOFError, ValueError, KeyError ...
        raise DataFileError(path, f"checkpoint is not a readable .npz, truncated or corrupt "
                                  f"({type(exc).__name__}: {exc})") from None
    if len(values) != len(variables):
        raise DataFileError(path, f"holds {len(values)} {what}; {owner} has {len(variables)}")
    for i, (var, val) in enumerate(zip(variables, values)):
        if tuple(val.shape) != tuple(var.shape):
            raise DataFileError(path, f"{what[:-1]} {i} ({getattr(var, 'path', getattr(var, 'name', '?'))}) has "
                                      f"shape {tuple(val.shape)} in the checkpoint, {tuple(var.shape)} in {owner}: "
                                      "a checkpoint of another model; nothing was restored")
    return values


def train_resumable(model, dataset, *, epochs: int, checkpoint_dir, checkpoint_every: int = 1,
                    sync_bn: bool = True, on_step=None, verbose: bool = False) -> dict:
    """Train `model` (compiled) on `dataset` for `epochs`, resuming from `checkpoint_dir` if it holds a run.

    Args:
        model: a compiled `keras.Model`.
        dataset: a `CamDataset` (or any sequence with ``set_epoch(epoch)``, ``len`` and ``[i]``).
        epochs: total number of epochs.
        checkpoint_dir: folder of the checkpoint (created).
        checkpoint_every: optimizer steps between checkpoints (mid-epoch checkpoints when < len(dataset)).
        sync_bn: average the BatchNorm running statistics over the replicas at each epoch end
            (`solarcnn.deepcam.distribute.average_bn_statistics`; a no-op on one device and on JAX).
        on_step: optional ``f(state)`` called after each step, once its checkpoint (if any) is written.
        verbose: print one line per epoch (and where a run resumed).

    Returns:
        The final state: ``{"epoch", "batch", "global_step", "losses"}`` (``losses``: one per step).
    """
    from .distribute import average_bn_statistics, train_on_batch

    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1; received {checkpoint_every!r}")
    state = load_checkpoint(checkpoint_dir, model) or {"epoch": 0, "batch": 0, "global_step": 0, "losses": []}
    if verbose and state["global_step"]:
        print(f"resumed at epoch {state['epoch']}, batch {state['batch']} (step {state['global_step']})")
    while state["epoch"] < epochs:
        dataset.set_epoch(state["epoch"])
        n = len(dataset)
        while state["batch"] < n:
            x, y = dataset[state["batch"]]
            state["losses"].append(train_on_batch(model, x, y))
            state["batch"] += 1
            state["global_step"] += 1
            if state["batch"] == n:
                state["epoch"] += 1
                state["batch"] = 0
                if sync_bn:
                    average_bn_statistics(model)
            if state["global_step"] % checkpoint_every == 0 or state["epoch"] >= epochs:
                save_checkpoint(checkpoint_dir, model, state)
            if on_step is not None:
                on_step(state)
            if state["batch"] == 0:
                break
        if verbose:
            print(f"epoch {state['epoch']}: loss {np.mean(state['losses'][-n:]):.4f}")
    return state
