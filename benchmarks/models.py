"""Training and inference throughput of the four package models vs plain PyTorch.

Each measurement runs in its own subprocess (see `benchmarks.runner`) because
``KERAS_BACKEND`` must be set before Keras is imported.  In one subprocess this
module builds either the package's Keras model (`run_keras`) or the PyTorch
reference of `benchmarks.torch_models` (`run_torch`) at the same input size,
batch and dtype, and times:

* training: ``train_on_batch`` (Keras; the compiled train function `fit` uses) vs
  ``zero_grad / forward / loss / backward / step`` (PyTorch), same loss and optimiser;
* inference: ``predict_on_batch`` vs ``model.eval()`` under ``torch.inference_mode()``.

Both sides get the same random batch shape; the first ``warmup`` steps (which include
tracing/compilation) are timed separately and excluded from the steady-state median.
"""
from __future__ import annotations

import gc
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
def run_keras(name: str, size: str, *, steps: int, warmup: int, mixed_precision: bool = False,
              batch: int | None = None, jit_compile="auto") -> dict:
    """Time the package's Keras model in this process (its backend is fixed by ``KERAS_BACKEND``).

    ``jit_compile="auto"`` is what ``model.compile`` does by default: XLA on JAX and on a TensorFlow GPU,
    TensorFlow's own kernels on a CPU-only TensorFlow (Keras' rule; on this CPU they were faster for all four
    models, see RESULTS.md)."""
    import numpy as np
    import keras

    import solarcnn.models as models
    from benchmarks.flops import keras_flops

    cfg = config(name, size, batch)
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    build = getattr(models, cfg["builder"])
    model = build(input_shape=cfg["input_shape"], **cfg["keras_kw"])
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    fwd_flops = keras_flops(model)
    opt_name, opt_kw = cfg["optimizer"]
    opt = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[opt_name](**opt_kw)
    if cfg["task"] == "binary_seg":
        loss = keras.losses.BinaryCrossentropy()
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=opt, loss=loss, jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x, y = _random_batch(cfg, rng)

    train = _time_loop(lambda: model.train_on_batch(x, y), warmup, steps)
    infer = _time_loop(lambda: model.predict_on_batch(x), warmup, steps)
    out = _common(cfg, train, infer, trainable, fwd_flops)
    out.update(side="keras", backend=keras.backend.backend(), keras_version=keras.__version__,
               jit_compile=str(getattr(model, "jit_compile", jit_compile)),
               dtype_policy=keras.mixed_precision.global_policy().name, **_keras_device_memory())
    del model
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
def run_torch(name: str, size: str, *, steps: int, warmup: int, mixed_precision: bool = False,
              batch: int | None = None, count_flops: bool = True) -> dict:
    """Time the plain PyTorch reference in this process (CUDA if available, else CPU)."""
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
        opt.zero_grad(set_to_none=True)
        with amp:
            out = model(x)
            loss = crit(out.float(), y)
        loss.backward()
        opt.step()
        loss.item()
        sync()

    def infer_step():
        with torch.inference_mode(), amp:
            out = model(x)
        out.float().cpu()
        sync()

    model.train()
    train = _time_loop(train_step, warmup, steps)
    model.eval()
    infer = _time_loop(infer_step, warmup, steps)
    out = _common(cfg, train, infer, trainable, flops["forward"])
    out.update(side="torch", backend="torch-reference", torch_version=torch.__version__,
               torch_threads=torch.get_num_threads(), dtype_policy="bfloat16 autocast" if mixed_precision else
               "float32", device=str(dev) if dev.type == "cpu" else f"cuda:{torch.cuda.get_device_name(0)}",
               torch_counted_train_flops_per_sample=flops["train"],
               peak_device_memory_mb=(torch.cuda.max_memory_allocated() / 2 ** 20) if dev.type == "cuda" else None)
    return out


def _common(cfg, train, infer, trainable, fwd_flops) -> dict:
    b = cfg["batch"]
    return {
        "model": cfg["name"], "size": cfg["size"], "input_shape": list(cfg["input_shape"]), "batch": b,
        "trainable_params": int(trainable), "forward_flops_per_sample": fwd_flops,
        "train_samples_per_s": b / train["median_step_s"], "infer_samples_per_s": b / infer["median_step_s"],
        "train": train, "infer": infer, "peak_rss_mb": _peak_rss_mb(),
    }
