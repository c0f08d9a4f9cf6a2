"""Training and inference throughput of the four package models vs plain PyTorch.

Each measurement runs in its own subprocess (see `benchmarks.runner`) because
``KERAS_BACKEND`` must be set before Keras is imported.  In one subprocess this
module builds either the package's Keras model (`run_keras`) or the PyTorch
reference of `benchmarks.torch_models` (`run_torch`) at the same input size,
batch and dtype, and times:

* training: ``train_on_batch`` (Keras; the compiled train function `fit` uses) vs
  ``zero_grad / forward / loss / backward / step`` (PyTorch), same loss and optimiser;
* inference: the package's compiled inference path, `solarcnn.models.inference.predictor` (TensorFlow: the
  weights frozen into the graph and BatchNorm folded; the path is chosen by timing it against
  ``predict_on_batch`` on the benchmark batch), vs ``model.eval()`` under ``torch.inference_mode()``;
* ``infer_plain`` (pairs only): ``predict_on_batch`` vs the same PyTorch step, reported beside it.

Both sides get the same random batch shape; the first ``warmup`` steps (which include
tracing/compilation) are timed separately and excluded from the steady-state median.

`run_pair` (what ``python -m benchmarks`` runs for every model, backend and precision) builds the Keras
side in its process and the PyTorch reference in a child process (`TorchSide`: in one process the two
runtimes slowed each other), and alternates short blocks of Keras and PyTorch steps (`interleave`), so the
two sides of each pair see the same load and clock; it reports each side's median samples/s and the median and
spread (quartiles, range) of the per-pair ratios. Precision ``bfloat16`` is Keras' ``mixed_bfloat16``
policy against ``torch.autocast(dtype=torch.bfloat16)`` on the same device. `run_keras` / `run_torch`
time one side alone (``--no-reference``).
"""
from __future__ import annotations

import gc
import math
import os
import resource
import statistics
import time

# name -> {size -> config}. "quick" sizes are reduced so a 2-core CPU finishes the whole
# suite in minutes; "full" is the paper's input size and the reference's batch where sane.
MODELS = {
    "slic": {
        "keras": ("build_slic", {}),
        "task": "classify", "num_classes": 5, "optimizer": ("sgd", {"learning_rate": 5e-4, "momentum": 0.9,
                                                                    "nesterov": True}),
        "quick": {"input_shape": (64, 64, 1), "batch": 8, "torch": {"img_size": 64}},
        "full": {"input_shape": (256, 256, 1), "batch": 8, "torch": {"img_size": 256}},
    },
    "cirrus_unet": {
        "keras": ("build_cirrus_unet", {}),
        "task": "binary_seg", "num_classes": 1, "optimizer": ("adam", {"learning_rate": 1e-3}),
        "quick": {"input_shape": (128, 160, 1), "batch": 4, "torch": {}},
        "full": {"input_shape": (128, 160, 1), "batch": 64, "torch": {}},
    },
    "deeplabv3plus": {
        "keras": ("build_deeplabv3plus", {}),
        "task": "seg", "num_classes": 3, "optimizer": ("adam", {"learning_rate": 1e-3, "epsilon": 1e-6}),
        "quick": {"input_shape": (64, 96, 16), "batch": 2, "keras_kw": {"num_middle_blocks": 2},
                  "torch": {"middle_blocks": 2}},
        "full": {"input_shape": (768, 1152, 16), "batch": 2, "keras_kw": {}, "torch": {}},
    },
    "flare_resnet34": {
        "keras": ("build_flare_model", {"backbone": "resnet34"}),
        "task": "classify", "num_classes": 2, "optimizer": ("sgd", {"learning_rate": 1e-4, "momentum": 0.9}),
        "quick": {"input_shape": (128, 128, 1), "batch": 8, "torch": {}},
        "full": {"input_shape": (512, 512, 1), "batch": 64, "torch": {}},
    },
}

REDUCED_NOTE = {
    "slic": "input 64x64x1 instead of 256x256x1 (FC1 shrinks; 29,882,565 params)",
    "cirrus_unet": "paper size 128x160x1, batch 4 instead of 64",
    "deeplabv3plus": "input 64x96x16 instead of 768x1152x16, 2 of 16 middle-flow blocks",
    "flare_resnet34": "input 128x128x1 instead of 512x512x1, batch 8 instead of 64",
}


def config(name: str, size: str, batch: int | None = None) -> dict:
    """The resolved configuration of model `name` at `size` ("quick" or "full")."""
    if name not in MODELS:
        raise ValueError(f"unknown model benchmark {name!r}; choose from {sorted(MODELS)}")
    if size not in ("quick", "full"):
        raise ValueError(f"size must be 'quick' or 'full'; received {size!r}")
    spec = MODELS[name]
    cfg = dict(spec[size])
    cfg.update(name=name, size=size, task=spec["task"], num_classes=spec["num_classes"],
               optimizer=spec["optimizer"], builder=spec["keras"][0],
               keras_kw={**spec["keras"][1], **spec[size].get("keras_kw", {})})
    if batch:
        cfg["batch"] = int(batch)
    return cfg


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time_loop(fn, warmup: int, steps: int) -> dict:
    t0 = time.perf_counter()
    first = None
    for i in range(warmup):
        s = time.perf_counter()
        fn()
        if i == 0:
            first = time.perf_counter() - s
    warm_total = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        s = time.perf_counter()
        fn()
        times.append(time.perf_counter() - s)
    return {"first_step_s": first, "warmup_s": warm_total, "step_times_s": times,
            "median_step_s": statistics.median(times), "min_step_s": min(times)}


def _random_batch(cfg: dict, rng):
    import numpy as np

    b = cfg["batch"]
    h, w, c = cfg["input_shape"]
    x = rng.standard_normal((b, h, w, c), dtype=np.float32)
    if cfg["task"] == "classify":
        y = rng.integers(0, cfg["num_classes"], size=(b,)).astype("int32")
    elif cfg["task"] == "binary_seg":
        y = (rng.random((b, h, w, 1)) > 0.5).astype("float32")
    else:
        y = rng.integers(0, cfg["num_classes"], size=(b, h, w)).astype("int32")
    return x, y


# ----------------------------------------------------------------- Keras side
def prepare_keras(name: str, size: str, *, mixed_precision: bool = False, batch: int | None = None,
                  jit_compile="auto") -> dict:
    """Build and compile the package's Keras model in this process (backend fixed by ``KERAS_BACKEND``);
    returns ``{"cfg", "model", "train_step", "infer_step", "trainable", "fwd_flops", "meta"}``."""
    import numpy as np
    import keras

    import solarcnn.models as models
    from benchmarks.flops import keras_flops

    cfg = config(name, size, batch)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed_precision else "float32")
    keras.utils.set_random_seed(0)
    build = getattr(models, cfg["builder"])
    model = build(input_shape=cfg["input_shape"], **cfg["keras_kw"])
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    fwd_flops = keras_flops(model)
    opt_name, opt_kw = cfg["optimizer"]
    from solarcnn.training import optimizers

    # the package's Adam / SGD: Keras' own, with TensorFlow's fused update kernels under that backend
    opt = {"sgd": optimizers.SGD, "adam": optimizers.Adam}[opt_name](**opt_kw)
    if cfg["task"] == "binary_seg":
        loss = keras.losses.BinaryCrossentropy()
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=opt, loss=loss, jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x, y = _random_batch(cfg, rng)
    from solarcnn.models.inference import predictor

    fast = predictor(model, example=x)
    meta = dict(side="keras", backend=keras.backend.backend(), keras_version=keras.__version__,
                jit_compile=str(getattr(model, "jit_compile", jit_compile)),
                dtype_policy=keras.mixed_precision.global_policy().name, infer_path=fast.path,
                infer_path_timings_s=fast.timings)
    return {"cfg": cfg, "model": model, "train_step": lambda: model.train_on_batch(x, y),
            "infer_step": lambda: fast(x), "infer_plain_step": lambda: model.predict_on_batch(x),
            "trainable": trainable, "fwd_flops": fwd_flops, "meta": meta}


def run_keras(name: str, size: str, *, steps: int, warmup: int, mixed_precision: bool = False,
              batch: int | None = None, jit_compile="auto") -> dict:
    """Time the package's Keras model in this process (its backend is fixed by ``KERAS_BACKEND``).

    ``jit_compile="auto"`` is what ``model.compile`` does by default: XLA on JAX and on a TensorFlow GPU,
    TensorFlow's own kernels on a CPU-only TensorFlow (Keras' rule; on this CPU they were faster for all four
    models, see RESULTS.md)."""
    import keras

    k = prepare_keras(name, size, mixed_precision=mixed_precision, batch=batch, jit_compile=jit_compile)
    train = _time_loop(k["train_step"], warmup, steps)
    infer = _time_loop(k["infer_step"], warmup, steps)
    out = _common(k["cfg"], train, infer, k["trainable"], k["fwd_flops"])
    out.update(**k["meta"], **_keras_device_memory())
    del k
    keras.backend.clear_session()
    gc.collect()
    return out


def _keras_device_memory() -> dict:
    import keras

    backend = keras.backend.backend()
    info = {"device": "cpu", "peak_device_memory_mb": None}
    try:
        if backend == "jax":
            import jax

            dev = jax.devices()[0]
            info["device"] = f"{dev.platform}:{getattr(dev, 'device_kind', '')}"
            stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
            if stats and "peak_bytes_in_use" in stats:
                info["peak_device_memory_mb"] = stats["peak_bytes_in_use"] / 2 ** 20
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                info["device"] = f"cuda:{torch.cuda.get_device_name(0)}"
                info["peak_device_memory_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    except Exception as exc:  # memory statistics are best-effort, never fatal
        info["memory_error"] = repr(exc)
    return info


# ----------------------------------------------------------------- PyTorch side
def prepare_torch(name: str, size: str, *, mixed_precision: bool = False, batch: int | None = None,
                  count_flops: bool = True) -> dict:
    """Build the plain PyTorch reference in this process (CUDA if available, else CPU); returns
    ``{"cfg", "model", "train_step", "infer_step", "trainable", "fwd_flops", "meta"}`` (the steps set
    ``model.train()`` / ``model.eval()`` themselves, so they can alternate)."""
    import numpy as np
    import torch

    from benchmarks import torch_models
    from benchmarks.flops import torch_flops

    cfg = config(name, size, batch)
    torch.manual_seed(0)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    model = torch_models.BUILDERS[name](**cfg["torch"]).to(dev)
    trainable = torch_models.count_trainable(model)
    rng = np.random.default_rng(0)
    x_np, y_np = _random_batch(cfg, rng)
    x = torch.from_numpy(np.ascontiguousarray(x_np.transpose(0, 3, 1, 2))).to(dev)
    if cfg["task"] == "binary_seg":
        y = torch.from_numpy(np.ascontiguousarray(y_np.transpose(0, 3, 1, 2))).to(dev)
        crit = torch.nn.BCELoss()
    else:
        y = torch.from_numpy(y_np.astype("int64")).to(dev)
        crit = torch.nn.CrossEntropyLoss()
    flops = {"forward": None, "train": None}
    if count_flops:
        flops = torch_flops(model, x[:1], backward=True)
    opt_name, opt_kw = cfg["optimizer"]
    if opt_name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=opt_kw["learning_rate"], momentum=opt_kw["momentum"],
                              nesterov=opt_kw.get("nesterov", False))
    else:
        opt = torch.optim.Adam(model.parameters(), lr=opt_kw["learning_rate"], eps=opt_kw.get("epsilon", 1e-7))
    amp = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=mixed_precision)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        with amp:
            out = model(x)
            loss = crit(out.float(), y)
        loss.backward()
        opt.step()
        loss.item()
        sync()

    def infer_step():
        model.eval()
        with torch.inference_mode(), amp:
            out = model(x)
        out.float().cpu()
        sync()

    meta = dict(side="torch", backend="torch-reference", torch_version=torch.__version__,
                torch_threads=torch.get_num_threads(), pid=os.getpid(),
                dtype_policy="bfloat16 autocast" if mixed_precision else "float32",
                device=str(dev) if dev.type == "cpu" else f"cuda:{torch.cuda.get_device_name(0)}",
                torch_counted_train_flops_per_sample=flops["train"],
                peak_device_memory_mb=(torch.cuda.max_memory_allocated() / 2 ** 20) if dev.type == "cuda" else None)
    return {"cfg": cfg, "model": model, "train_step": train_step, "infer_step": infer_step,
            "trainable": trainable, "fwd_flops": flops["forward"], "meta": meta}


def run_torch(name: str, size: str, *, steps: int, warmup: int, mixed_precision: bool = False,
              batch: int | None = None, count_flops: bool = True) -> dict:
    """Time the plain PyTorch reference in this process (CUDA if available, else CPU)."""
    t = prepare_torch(name, size, mixed_precision=mixed_precision, batch=batch, count_flops=count_flops)
    train = _time_loop(t["train_step"], warmup, steps)
    infer = _time_loop(t["infer_step"], warmup, steps)
    out = _common(t["cfg"], train, infer, t["trainable"], t["fwd_flops"])
    out.update(**t["meta"])
    if out["peak_device_memory_mb"] is not None:
        import torch

        out["peak_device_memory_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


# ----------------------------------------------------------------- interleaved Keras / PyTorch pairs
PRECISIONS = ("float32", "bfloat16")
MIN_BLOCK_S = 0.5      # shortest block of a pair, in seconds (see `_run_pair`)


def ratio_stats(ratios) -> dict:
    """Median, quartiles (IQR) and range of per-pair ratios."""
    import numpy as np

    r = np.asarray(list(ratios), dtype=float)
    if r.size == 0:
        raise ValueError("ratio_stats needs at least one ratio; received none")
    q1, med, q3 = np.percentile(r, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1),
            "min": float(r.min()), "max": float(r.max()), "n": int(r.size), "ratios": r.tolist()}


def interleave(keras_fn, torch_fn, *, pairs: int, block: int, pause_s: float = 0.2, clock=time.perf_counter,
               sleep=time.sleep, torch_block=None) -> dict:
    """Time `pairs` pairs of short blocks (`block` calls each) of `keras_fn` and `torch_fn`, alternating which
    side goes first in each pair (K-T, T-K, ...), so a change of machine load or clock hits both sides of a
    pair. Between blocks the process sleeps `pause_s` (the other framework's worker threads stop spinning).
    ``torch_block(n) -> seconds`` replaces `torch_fn` when the reference runs elsewhere and times its own
    block of n calls (`TorchSide.run`).

    Returns per-block seconds per call of each side and the per-pair ratios ``torch time / keras time``
    (> 1: Keras faster) with `ratio_stats`."""
    if pairs < 1 or block < 1:
        raise ValueError(f"pairs and block must be >= 1; received pairs={pairs!r}, block={block!r}")
    k_times, t_times = [], []

    def timed(fn):
        sleep(pause_s)
        s = clock()
        for _ in range(block):
            fn()
        return (clock() - s) / block

    def timed_torch():
        if torch_block is None:
            return timed(torch_fn)
        sleep(pause_s)
        return torch_block(block) / block

    for i in range(pairs):
        if i % 2 == 0:
            k, t = timed(keras_fn), timed_torch()
        else:
            t, k = timed_torch(), timed(keras_fn)
        k_times.append(k)
        t_times.append(t)
    return {"keras_step_s": k_times, "torch_step_s": t_times,
            "ratio": ratio_stats(t / k for k, t in zip(k_times, t_times))}


def _torch_side_server(conn, name, size, mixed_precision, batch) -> None:
    """Child process of `TorchSide`: build the PyTorch reference, then run the steps the parent asks for.

    Protocol (one message each way per call): ``("train" | "infer", n)`` runs n steps and answers the
    seconds they took (timed here, so the pipe's latency is not counted); ``("meta", 0)`` answers the
    reference's description; ``("quit", 0)`` ends."""
    try:
        t = prepare_torch(name, size, mixed_precision=mixed_precision, batch=batch)
        conn.send(("ready", None))
    except BaseException as exc:                    # reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        cmd, n = conn.recv()
        if cmd == "quit":
            return
        if cmd == "meta":
            conn.send(({k: t[k] for k in ("cfg", "trainable", "fwd_flops", "meta")}, None))
            continue
        fn = t[f"{cmd}_step"]
        s = time.perf_counter()
        for _ in range(n):
            fn()
        conn.send((time.perf_counter() - s, None))


class TorchSide:
    """The PyTorch reference in a process of its own, driven step by step from the Keras process.

    Why: with TensorFlow and PyTorch in one process, alternating their steps slowed the PyTorch
    steps several-fold on the 2-core Intel (AMX) CI machine (flare ResNet34 quick, float32: 2.3-5.0 s
    per training step in alternation against 0.37 s alone); the two runtimes' thread pools and oneDNN
    states interfere. Two processes that take turns keep the interleaving (same load, same clock for
    both sides of a pair) without that interference: the idle side waits in a blocking pipe read.
    """

    def __init__(self, name, size, *, mixed_precision=False, batch=None, timeout: float = 900):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_torch_side_server, args=(child, name, size, mixed_precision, batch),
                                 daemon=True)
        self._proc.start()
        self._timeout = timeout
        status, detail = self._recv()
        if status != "ready":
            self.close()
            raise RuntimeError(f"the PyTorch reference of {name!r} failed to build: {detail}")
        info, _ = self._ask("meta", 0)
        self.cfg, self.trainable, self.fwd_flops, self.meta = (info[k] for k in ("cfg", "trainable", "fwd_flops",
                                                                                 "meta"))

    def _recv(self):
        if not self._conn.poll(self._timeout):
            self.close()
            raise TimeoutError(f"the PyTorch reference process did not answer within {self._timeout} s")
        return self._conn.recv()

    def _ask(self, cmd, n):
        self._conn.send((cmd, n))
        return self._recv()

    def run(self, phase: str, n: int) -> float:
        """Seconds that `n` steps of `phase` (``"train"`` / ``"infer"``) took in the reference process."""
        return self._ask(phase, n)[0]

    def close(self) -> None:
        try:
            self._conn.send(("quit", 0))
        except (OSError, EOFError, BrokenPipeError):
            pass
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


def run_pair(name: str, size: str, *, precision: str = "float32", pairs: int = 7, block: int = 2, warmup: int = 2,
             batch: int | None = None) -> dict:
    """The package's Keras model (this process's ``KERAS_BACKEND``) against the PyTorch reference (a process
    of its own, `TorchSide`), in `precision` (``"float32"``; ``"bfloat16"``: Keras ``mixed_bfloat16`` against
    ``torch.autocast(dtype=torch.bfloat16)``), training then inference, each by `interleave`: the two
    processes take turns, one block at a time.

    Both sides are built and warmed up (`warmup` calls each, compilation included, timed apart) before any
    timed block; the result holds each side's median samples/s and the per-pair ratio statistics."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; received {precision!r}")
    bf16 = precision == "bfloat16"
    remote = TorchSide(name, size, mixed_precision=bf16, batch=batch)
    try:
        return _run_pair(name, size, precision, remote, pairs=pairs, block=block, warmup=warmup, batch=batch)
    finally:
        remote.close()


def _run_pair(name, size, precision, remote, *, pairs, block, warmup, batch) -> dict:
    import statistics as st

    bf16 = precision == "bfloat16"
    k = prepare_keras(name, size, mixed_precision=bf16, batch=batch)
    t = {"cfg": remote.cfg, "trainable": remote.trainable, "fwd_flops": remote.fwd_flops, "meta": remote.meta,
         "train_step": lambda: remote.run("train", 1), "infer_step": lambda: remote.run("infer", 1)}
    b = k["cfg"]["batch"]
    tm = t["meta"]
    out = {"model": name, "size": size, "precision": precision, "input_shape": list(k["cfg"]["input_shape"]),
           "batch": b, "pairs": pairs, "block": block, "warmup": warmup, **k["meta"],
           "torch_dtype_policy": tm["dtype_policy"], "torch_threads": tm["torch_threads"],
           "torch_version": tm["torch_version"], "device": tm["device"], "keras_pid": os.getpid(),
           "torch_pid": tm["pid"], "trainable_params": k["trainable"],
           "torch_trainable_params": t["trainable"], "forward_flops_per_sample": k["fwd_flops"],
           "torch_forward_flops_per_sample": t["fwd_flops"]}
    for phase in ("train", "infer", "infer_plain"):
        torch_phase = "infer" if phase == "infer_plain" else phase
        warm = {}
        s0 = time.perf_counter()
        for _ in range(warmup):
            k[f"{phase}_step"]()
        warm["keras"] = time.perf_counter() - s0
        warm["torch"] = remote.run(torch_phase, warmup)
        # steps per block: at least `block`, and enough for a block of MIN_BLOCK_S on the slower side (one
        # timed step each): 2-step blocks of 20-60 ms inference steps moved the ratio by up to 0.4 between runs
        s0 = time.perf_counter()
        k[f"{phase}_step"]()
        one = max(time.perf_counter() - s0, remote.run(torch_phase, 1))
        n_block = max(block, math.ceil(MIN_BLOCK_S / max(one, 1e-6)))
        res = interleave(k[f"{phase}_step"], None, pairs=pairs, block=n_block,
                         torch_block=lambda n, tp=torch_phase: remote.run(tp, n))
        out[phase] = {**res, "warmup_s": warm, "block": n_block}
        out[f"{phase}_samples_per_s"] = b / st.median(res["keras_step_s"])
        out[f"torch_{phase}_samples_per_s"] = b / st.median(res["torch_step_s"])
        out[f"{phase}_ratio_vs_torch"] = res["ratio"]["median"]
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def _common(cfg, train, infer, trainable, fwd_flops) -> dict:
    b = cfg["batch"]
    return {
        "model": cfg["name"], "size": cfg["size"], "input_shape": list(cfg["input_shape"]), "batch": b,
        "trainable_params": int(trainable), "forward_flops_per_sample": fwd_flops,
        "train_samples_per_s": b / train["median_step_s"], "infer_samples_per_s": b / infer["median_step_s"],
        "train": train, "infer": infer, "peak_rss_mb": _peak_rss_mb(),
    }
