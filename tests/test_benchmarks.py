"""Fast checks of the benchmark suite: FLOP counting, parameter parity, CLI parsing.

No timing assertions (speed is shown by `python -m benchmarks`, never by tests).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from benchmarks import machine, runner  # noqa: E402
from benchmarks.flops import keras_flops  # noqa: E402


# ------------------------------------------------------------------ FLOP counter, hand-checkable
def test_flops_dense_by_hand():
    x = keras.Input((10,))
    y = layers.Dense(7, name="d")(x)
    assert keras_flops(keras.Model(x, y)) == 2 * 10 * 7


def test_flops_conv_same_and_strided_by_hand():
    x = keras.Input((8, 8, 3))
    a = layers.Conv2D(4, 3, padding="same", name="c1")(x)           # 8*8 out px * 3*3*3*4 MACs
    b = layers.Conv2D(5, 3, strides=2, padding="valid", name="c2")(a)  # 3*3 out px * 3*3*4*5 MACs
    total, per = keras_flops(keras.Model(x, b), by_layer=True)
    assert per == {"c1": 2 * 64 * 108, "c2": 2 * 9 * 180}
    assert total == 2 * (64 * 108 + 9 * 180)


def test_flops_depthwise_separable_transpose_by_hand():
    x = keras.Input((6, 6, 4))
    a = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)                 # 36 * 9 * 4
    b = layers.SeparableConv2D(8, 3, padding="same", name="sep")(a)             # 36 * (9*4 + 4*8)
    c = layers.Conv2DTranspose(2, 3, strides=2, padding="same", name="tr")(b)   # 36 input px * 9*2*8
    _, per = keras_flops(keras.Model(x, c), by_layer=True)
    assert per == {"dw": 2 * 36 * 36, "sep": 2 * 36 * (36 + 32), "tr": 2 * 36 * 144}


def test_flops_shared_layer_counted_per_call_and_free_layers_ignored():
    x = keras.Input((4, 4, 2))
    conv = layers.Conv2D(2, 1, name="shared")
    y = conv(conv(layers.BatchNormalization(name="bn")(x)))
    y = layers.MaxPooling2D(name="pool")(layers.ReLU(name="relu")(y))
    total, per = keras_flops(keras.Model(x, y), by_layer=True)
    # two calls x 16 pixels x (1*1*2 in x 2 out) MACs x 2 FLOPs
    assert per == {"shared": 2 * 16 * 4 * 2}
    assert total == 256


def test_flops_needs_static_shape_and_says_so():
    x = keras.Input((None, None, 3))
    y = layers.Conv2D(2, 3, name="c")(x)
    with pytest.raises(ValueError, match=r"static input shape; got a tensor of shape \(None, None, None, \d\)"):
        keras_flops(keras.Model(x, y))


def test_flops_rejects_subclassed_model_with_its_type():
    class M(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="functional model; got M"):
        keras_flops(M())


# ------------------------------------------------------------------ machine / peak
def test_flops_per_cycle_table():
    assert machine.fp32_flops_per_cycle({"avx512f", "avx2", "fma"}, "AuthenticAMD", 26)[0] == 64   # Zen 5
    assert machine.fp32_flops_per_cycle({"avx512f", "avx2", "fma"}, "AuthenticAMD", 25)[0] == 32   # Zen 4
    assert machine.fp32_flops_per_cycle({"avx2", "fma"}, "GenuineIntel", 6)[0] == 32
    assert machine.fp32_flops_per_cycle({"sse2"}, "GenuineIntel", 6)[0] == 8


def test_gpu_peak_table():
    peak, how = machine.gpu_peak_flops("NVIDIA H100 80GB HBM3", "bfloat16")
    assert peak == pytest.approx(989.4e12) and "H100" in how
    assert machine.gpu_peak_flops("NVIDIA H200", "bfloat16")[0] == pytest.approx(989.4e12)
    assert machine.gpu_peak_flops("NVIDIA H100 PCIe", "bfloat16")[0] == pytest.approx(756e12)
    assert machine.gpu_peak_flops("Some Unknown GPU")[0] is None


def test_cpu_peak_is_labelled_an_estimate():
    peak, how = machine.cpu_peak_flops()
    if peak is not None:
        assert peak > 0 and how.startswith("estimate of peak")


# ------------------------------------------------------------------ CLI parsing
def test_quick_parsing_and_defaults():
    args = runner.build_parser().parse_args(["--quick", "slic", "data", "--backend", "tensorflow,jax"])
    assert args.quick and args.names == ["slic", "data"]
    assert runner.resolve_names(args.names) == ["slic", "fits_prep", "cirrus_masks", "deepcam_loader"]
    assert runner.resolve_backends(args.backend, gpu=False) == ["tensorflow", "jax"]
    assert runner.resolve_backends(None, gpu=False) == ["tensorflow", "jax", "torch"]
    assert runner.resolve_backends(None, gpu=False, quick=True) == ["tensorflow", "jax"]
    assert runner.resolve_backends(None, gpu=True) == ["jax"]
    assert runner.resolve_names([]) == runner.GROUPS["all"]
    args = runner.build_parser().parse_args(["--mixed-precision", "--steps", "5"])
    assert args.mixed_precision and args.steps == 5 and not args.quick


def test_unknown_benchmark_and_backend_are_clear_errors():
    with pytest.raises(SystemExit, match="unknown benchmark 'resnet'"):
        runner.resolve_names(["resnet"])
    with pytest.raises(SystemExit, match="received 'tensorflow,mxnet'"):
        runner.resolve_backends("tensorflow,mxnet", gpu=False)


def test_solarcnn_bench_passes_its_arguments_to_the_suite(monkeypatch):
    """``solarcnn bench ARGS`` runs ``python -m benchmarks ARGS`` in the checkout; the suite parses ARGS."""
    from solarcnn.course import bench_cli
    from solarcnn.course.cli import build_parser

    args = build_parser().parse_args(["bench", "--quick", "fits_prep"])
    assert args.func is bench_cli._cli and args.args == ["--quick", "fits_prep"]
    calls = []
    monkeypatch.setattr(bench_cli.subprocess, "call", lambda cmd, cwd: calls.append((cmd, cwd)) or 0)
    assert bench_cli._cli(args) == 0
    assert calls == [([sys.executable, "-m", "benchmarks", "--quick", "fits_prep"], REPO)]
    suite = runner.build_parser().parse_args(args.args)
    assert suite.quick and suite.names == ["fits_prep"]


def test_markdown_report_from_a_fake_result():
    report = {"quick": True, "size": "quick", "steps": 3, "warmup": 2, "mixed_precision": False,
              "started": "now", "total_wall_s": 1.0, "versions": {"keras": "3"},
              "machine": {"cpu": "x", "cpu_family": "1", "cores_usable": 2, "memory_gb": 1, "gpus": None,
                          "cpu_peak_fp32_flops": 100e9, "cpu_peak_how": "estimate of peak: test"},
              "models": [
                  {"model": "slic", "backend": "tensorflow", "device": "cpu", "input_shape": [64, 64, 1], "batch": 8,
                   "trainable_params": 10, "forward_flops_per_sample": 1e9, "train_samples_per_s": 10.0,
                   "infer_samples_per_s": 40.0, "train": {"first_step_s": 1.0}, "peak_rss_mb": 5},
                  {"model": "slic", "backend": "torch-reference", "device": "cpu", "input_shape": [64, 64, 1],
                   "batch": 8, "trainable_params": 10, "forward_flops_per_sample": 1e9, "train_samples_per_s": 5.0,
                   "infer_samples_per_s": 80.0, "train": {"first_step_s": 1.0}, "peak_rss_mb": 5}],
              "data": [{"name": "fits_prep", "items": 4, "unit": "files/s", "package_rate": 8.0,
                        "reference_rate": 2.0, "ratio": 4.0}]}
    runner.summarise(report)
    tf = report["models"][0]
    assert tf["train_ratio_vs_torch"] == pytest.approx(2.0) and tf["infer_ratio_vs_torch"] == pytest.approx(0.5)
    assert tf["train_mfu"] == pytest.approx(3 * 1e9 * 10 / 100e9) and tf["param_parity"]
    md = runner.to_markdown(report)
    assert "| slic | 64×64×1 × 8 | tensorflow | 10 |" in md and "30.0%" in md and "| fits_prep | 4 |" in md


# ------------------------------------------------------------------ PyTorch references: parameter parity
torch = pytest.importorskip("torch")
from benchmarks import torch_models  # noqa: E402
from benchmarks.flops import torch_flops  # noqa: E402


@pytest.mark.parametrize("name,kwargs,expected", [
    ("slic", {}, 155_711_685),
    ("slic", {"img_size": 128}, 55_048_389),
    ("slic", {"img_size": 64}, 29_882_565),
    ("cirrus_unet", {}, 2_103_297),
    ("deeplabv3plus", {}, 56_454_720),
    ("flare_resnet34", {}, 21_285_728),
])
def test_torch_reference_matches_spec_param_count(name, kwargs, expected):
    assert torch_models.count_trainable(torch_models.BUILDERS[name](**kwargs)) == expected


def test_torch_deeplab_has_76_batchnorms_and_small_input_shape():
    m = torch_models.deeplabv3plus_torch(middle_blocks=1)
    assert sum(isinstance(x, torch.nn.BatchNorm2d) for x in torch_models.deeplabv3plus_torch().modules()) == 76
    assert m(torch.zeros(1, 16, 32, 48)).shape == (1, 3, 32, 48)


def test_torch_slic_rejects_bad_size():
    with pytest.raises(ValueError, match="multiple of 32, got 100"):
        torch_models.slic_torch(img_size=100)


def test_torch_flop_counter_by_hand():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 64, 7))
    f = torch_flops(m, torch.zeros(2, 3, 8, 8))
    assert f["forward"] == 2 * 64 * 108 + 2 * 256 * 7


QUICK_PARITY = ["cirrus_unet", "flare_resnet34", "deeplabv3plus", "slic"]


@pytest.mark.parametrize("name", QUICK_PARITY)
def test_keras_and_torch_quick_configs_have_same_params_and_flops(name):
    """The package's Keras model and the PyTorch reference, at the reduced benchmark size."""
    import solarcnn.models as models
    from benchmarks.models import config

    cfg = config(name, "quick")
    km = getattr(models, cfg["builder"])(input_shape=cfg["input_shape"], **cfg["keras_kw"])   # an error fails
    tm = torch_models.BUILDERS[name](**cfg["torch"])
    k_params = int(sum(np.prod(v.shape) for v in km.trainable_weights))
    assert k_params == torch_models.count_trainable(tm)
    h, w, c = cfg["input_shape"]
    assert keras_flops(km) == torch_flops(tm, torch.zeros(1, c, h, w), backward=False)["forward"]


# ------------------------------------------------------------------ interleaved measurement, precisions (issue 17)
def test_ratio_stats_by_hand():
    from benchmarks.models import ratio_stats

    q = ratio_stats([1.0, 2.0, 3.0, 4.0, 10.0])
    assert (q["median"], q["q1"], q["q3"], q["iqr"], q["min"], q["max"], q["n"]) == (3.0, 2.0, 4.0, 2.0, 1.0, 10.0, 5)
    with pytest.raises(ValueError, match="at least one ratio"):
        ratio_stats([])


def test_interleave_alternates_sides_and_pairs_their_times():
    """A fake clock: each Keras call costs 1 s, each PyTorch call 2 s plus 1 s per pair already done (a load
    drift); the per-pair ratios follow the drift, and the order alternates K-T, T-K."""
    from benchmarks.models import interleave

    now, calls, pair = [0.0], [], [0]

    def keras_fn():
        calls.append("K")
        now[0] += 1.0

    def torch_fn():
        calls.append("T")
        now[0] += 2.0 + pair[0]

    def sleep(s):
        # a new pair starts every second block
        pair[0] = (len(calls) // 2) // 2

    res = interleave(keras_fn, torch_fn, pairs=3, block=2, clock=lambda: now[0], sleep=sleep)
    assert "".join(calls) == "KKTT" "TTKK" "KKTT"
    assert res["keras_step_s"] == [1.0, 1.0, 1.0] and res["torch_step_s"] == [2.0, 3.0, 4.0]
    assert res["ratio"]["ratios"] == [2.0, 3.0, 4.0] and res["ratio"]["median"] == 3.0
    with pytest.raises(ValueError, match="received pairs=0"):
        interleave(keras_fn, torch_fn, pairs=0, block=1)
    # the reference in another process times its own block of n calls (TorchSide.run): one call per block
    blocks = []
    res = interleave(keras_fn, None, pairs=2, block=3, clock=lambda: now[0], sleep=lambda s: None,
                     torch_block=lambda n: blocks.append(n) or 6.0 * n)
    assert blocks == [3, 3] and res["torch_step_s"] == [6.0, 6.0] and res["ratio"]["ratios"] == [6.0, 6.0]


def test_data_pairs_alternate_and_give_ratio_stats():
    from benchmarks.data import _paired_timed

    order = []
    res = _paired_timed(lambda k: order.append(f"r{k}") or k, lambda k: order.append(f"p{k}"), repeats=3)
    assert order == ["r0", "p0", "p1", "r1", "r2", "p2"]
    assert res["ref_out"] == 2 and res["ratio"]["n"] == 3 and len(res["pkg_times"]) == 3


def test_isa_features_and_bf16_peak_table():
    spr = {"avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
    isa = machine.isa_features(spr)
    assert isa["AMX-BF16"] and isa["AVX512-BF16"] and isa["AVX-512F"] and not isa["AMX-FP16"]
    assert machine.bf16_flops_per_cycle(spr, "GenuineIntel", 6)[0] == 1024                 # AMX estimate
    assert machine.bf16_flops_per_cycle(spr - {"amx_bf16"}, "GenuineIntel", 6)[0] == 128   # AVX512-BF16
    assert machine.bf16_flops_per_cycle({"avx512f", "avx512_bf16"}, "AuthenticAMD", 25)[0] == 64   # Zen 4
    assert machine.bf16_flops_per_cycle({"avx2", "fma"}, "GenuineIntel", 6)[0] is None
    with pytest.raises(ValueError, match="received 'float16'"):
        machine.cpu_peak_flops(dtype="float16")
    info = machine.machine_info()
    assert set(info["isa"]) == set(machine.ISA_FLAGS.values())
    if info["cpu_peak_bf16_flops"] is not None:
        assert info["cpu_peak_bf16_how"].startswith("estimate of peak")
        assert info["cpu_peak_bf16_flops"] >= info["cpu_peak_fp32_flops"]


def test_precisions_parsing():
    assert runner.resolve_precisions(None) == ["float32", "bfloat16"]
    assert runner.resolve_precisions(None, quick=True) == ["float32"]
    assert runner.resolve_precisions(None, mixed_precision=True) == ["bfloat16"]
    assert runner.resolve_precisions("bfloat16,float32") == ["bfloat16", "float32"]
    with pytest.raises(SystemExit, match="received 'fp8'"):
        runner.resolve_precisions("fp8")
    args = runner.build_parser().parse_args(["--precision", "float32,bfloat16", "--pairs", "5", "--block", "3"])
    assert (args.precision, args.pairs, args.block) == ("float32,bfloat16", 5, 3)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_interleaved_pair_through_the_worker_tiny(precision, tmp_path):
    """One real pair (CIRRUS U-Net, batch 1, 2 pairs of 1-step blocks) through the worker as the runner
    starts it, then the report: both sides ran in the asked precision, ratios and MFU against that peak."""
    import json

    from benchmarks import _worker

    job, out = tmp_path / "job.json", tmp_path / "out.json"
    item = {"kind": "pair", "model": "cirrus_unet", "size": "quick", "precision": precision, "pairs": 2,
            "block": 1, "warmup": 1, "batch": 1}
    job.write_text(json.dumps({"items": [item]}))
    assert _worker.main([str(job), str(out)]) == 0
    (r,) = json.loads(out.read_text())
    assert "error" not in r, r.get("traceback")
    assert r["dtype_policy"] == ("mixed_bfloat16" if precision == "bfloat16" else "float32")
    assert r["torch_dtype_policy"] == ("bfloat16 autocast" if precision == "bfloat16" else "float32")
    assert r["trainable_params"] == r["torch_trainable_params"] == 2_103_297
    assert r["torch_pid"] != r["keras_pid"], "the PyTorch reference runs in a process of its own (TorchSide)"
    for phase in ("train", "infer"):
        assert len(r[phase]["keras_step_s"]) == len(r[phase]["torch_step_s"]) == 2
        assert r[phase]["ratio"]["n"] == 2 and r[phase]["ratio"]["min"] <= r[phase]["ratio"]["median"]
        assert r[f"{phase}_samples_per_s"] > 0 and r[f"torch_{phase}_samples_per_s"] > 0
    report = {"quick": True, "size": "quick", "steps": 0, "warmup": 1, "mixed_precision": False,
              "precisions": [precision], "pairs": 2, "block": 1, "started": "now", "total_wall_s": 1.0,
              "versions": {"keras": "3"}, "machine": machine.machine_info(), "models": [r], "data": []}
    runner.summarise(report)
    peak, how = runner._peak_for(r, report)
    assert r["peak_flops"] == peak and r["train_mfu"] == pytest.approx(3 * r["forward_flops_per_sample"]
                                                                       * r["train_samples_per_s"] / peak)
    if precision == "bfloat16" and report["machine"]["cpu_peak_bf16_flops"]:
        assert "bf16" in how
    md = runner.to_markdown(report)
    assert f"| cirrus_unet | 128×160×1 × 1 | {r['backend']} | {precision} | 2,103,297 |" in md


def test_runner_starts_one_interleaved_pair_per_backend_and_precision(monkeypatch, tmp_path):
    items = []

    def fake_worker(batch, env, timeout):
        items.extend({**i, "env": env["KERAS_BACKEND"]} for i in batch)
        return [{**i, "error": "not run (test)"} for i in batch]

    monkeypatch.setattr(runner, "_run_worker", fake_worker)
    args = runner.build_parser().parse_args(["slic", "--backend", "tensorflow,jax", "--precision",
                                             "float32,bfloat16", "--pairs", "4", "--out", str(tmp_path)])
    report = runner.run(args)
    assert [(i["kind"], i["env"], i["precision"], i["pairs"], i["block"]) for i in items] == [
        ("pair", "tensorflow", "float32", 4, 2), ("pair", "tensorflow", "bfloat16", 4, 2),
        ("pair", "jax", "float32", 4, 2), ("pair", "jax", "bfloat16", 4, 2)]
    assert report["precisions"] == ["float32", "bfloat16"] and report["interleaved"]
    assert "error: not run (test)" in runner.to_markdown(report)
    items.clear()
    runner.run(runner.build_parser().parse_args(["slic", "--backend", "jax", "--quick", "--no-reference",
                                                 "--out", str(tmp_path)]))
    assert [(i["kind"], i["mixed_precision"]) for i in items] == [("keras", False)]
