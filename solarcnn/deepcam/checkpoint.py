"""Checkpointing with mid-epoch resume for DeepCAM-style training (backend-agnostic).

`train_resumable` runs the training loop step by step (``model.train_on_batch``)
and every `checkpoint_every` optimizer steps writes, atomically, the model
weights, the optimizer's variables (moments, step counter) and the position
(epoch, batch) plus the loss history. The loader's order depends only on its
seed and the epoch (`CamDataset.set_epoch`), so a run killed at any point and
restarted with the same arguments continues from the last checkpoint and ends
with the same weights and losses as an uninterrupted run (up to the
floating-point determinism of the backend on the machine).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def _save_npz(path: Path, arrays: list) -> None:
    tmp = path.with_name(f".part-{os.getpid()}-{path.name}")
    with open(tmp, "wb") as fh:
        np.savez(fh, *arrays)
    os.replace(tmp, path)


def save_checkpoint(directory, model, state: dict) -> Path:
    """Write weights, optimizer variables and `state` (JSON) into `directory`; the state file is written
    last, so a checkpoint is complete exactly when ``state.json`` names it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tag = f"step{int(state['global_step']):08d}"
    _save_npz(directory / f"{tag}.weights.npz", [np.asarray(v.numpy()) for v in model.weights])
    _save_npz(directory / f"{tag}.optimizer.npz", [np.asarray(v.numpy()) for v in model.optimizer.variables])
    state = {**state, "tag": tag}
    tmp = directory / f".part-{os.getpid()}-state.json"
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, directory / "state.json")
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
    state = json.loads(path.read_text())
    tag = state["tag"]
    with np.load(Path(directory) / f"{tag}.weights.npz") as w:
        values = [w[f"arr_{i}"] for i in range(len(w.files))]
    if len(values) != len(model.weights):
        raise DataFileError(Path(directory) / f"{tag}.weights.npz",
                            f"holds {len(values)} weight arrays; the model has {len(model.weights)}")
    for var, val in zip(model.weights, values):
        var.assign(val)
    opt = model.optimizer
    if not opt.built:
        opt.build(model.trainable_variables)
    with np.load(Path(directory) / f"{tag}.optimizer.npz") as o:
        ovals = [o[f"arr_{i}"] for i in range(len(o.files))]
    if len(ovals) != len(opt.variables):
        raise DataFileError(Path(directory) / f"{tag}.optimizer.npz",
                            f"holds {len(ovals)} optimizer arrays; the optimizer has {len(opt.variables)}")
    for var, val in zip(opt.variables, ovals):
        var.assign(val)
    return state


def train_resumable(model, dataset, *, epochs: int, checkpoint_dir, checkpoint_every: int = 1,
                    verbose: bool = False) -> dict:
    """Train `model` (compiled) on `dataset` for `epochs`, resuming from `checkpoint_dir` if it holds a run.

    Args:
        model: a compiled `keras.Model`.
        dataset: a `CamDataset` (or any sequence with ``set_epoch(epoch)``, ``len`` and ``[i]``).
        epochs: total number of epochs.
        checkpoint_dir: folder of the checkpoint (created).
        checkpoint_every: optimizer steps between checkpoints (mid-epoch checkpoints when < len(dataset)).

    Returns:
        The final state: ``{"epoch", "batch", "global_step", "losses"}`` (``losses``: one per step).
    """
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
            loss = model.train_on_batch(x, y)
            loss = float(loss[0] if isinstance(loss, (list, tuple)) else loss)
            state["losses"].append(loss)
            state["batch"] += 1
            state["global_step"] += 1
            if state["batch"] == n:
                state["epoch"] += 1
                state["batch"] = 0
            if state["global_step"] % checkpoint_every == 0 or state["epoch"] >= epochs:
                save_checkpoint(checkpoint_dir, model, state)
            if state["batch"] == 0:
                break
        if verbose:
            print(f"epoch {state['epoch']}: loss {np.mean(state['losses'][-n:]):.4f}")
    return state
