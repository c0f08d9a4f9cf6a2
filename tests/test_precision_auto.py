"""``solarcnn.setup(mixed_precision="auto" | "float32" | "bfloat16")`` (issue 17 item 3, the mechanism): the
documented rule of `runtime.choose_precision`, the policy it sets, the printed choice and the precision stored
with every recorded metric. The tiny profiles of notebooks 02-07 use "auto"."""
import json

import pytest

import solarcnn
from solarcnn import runtime


@pytest.fixture(autouse=True)
def _float32_after():
    yield
    solarcnn.setup(seed=0, verbose=False)


@pytest.mark.parametrize("devices,flags,capability,expected", [
    (["cpu:0"], {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, None, "bfloat16"),   # Sapphire Rapids
    (["cpu:0"], {"avx512f", "avx512_bf16"}, None, "float32"),        # AVX512-BF16 alone (e.g. Zen 4/5)
    (["cpu:0"], {"avx2", "fma"}, None, "float32"),
    (["cpu:0", "gpu:0"], set(), (8, 0), "bfloat16"),                 # A100
    (["cpu:0", "cuda:0"], set(), (9, 0), "bfloat16"),                # H100
    (["cpu:0", "gpu:0"], {"amx_bf16"}, (7, 5), "float32"),           # T4: the GPU decides, not the CPU
    (["cpu:0", "gpu:0"], {"amx_bf16"}, None, "float32"),             # capability unknown
])
def test_choose_precision_rule(devices, flags, capability, expected):
    precision, reason = runtime.choose_precision(devices, flags=flags, capability=capability)
    assert precision == expected and reason.startswith("auto: ")


@pytest.mark.parametrize("backend,expected", [("tensorflow", "bfloat16"), ("jax", "float32"), ("torch", "float32")])
def test_choose_precision_on_an_amx_cpu_depends_on_the_backend(backend, expected):
    amx = {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}
    assert runtime.choose_precision(["cpu:0"], flags=amx, backend=backend)[0] == expected
    assert runtime.choose_precision(["cpu:0", "cuda:0"], flags=amx, capability=(9, 0), backend=backend)[0] == "bfloat16"


def test_setup_auto_follows_the_rule_prints_and_records(monkeypatch, tmp_path, capsys):
    import keras

    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "amx_bf16"})
    info = solarcnn.setup(seed=0, notebook="prec_test", mixed_precision="auto")
    assert info.precision == "bfloat16" and info.mixed_precision
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert "AMX-BF16" in capsys.readouterr().out
    monkeypatch.setenv("SOLARCNN_RESULTS_DIR", str(tmp_path))
    solarcnn.record("val_iou", 0.5, verbose=False)
    assert json.loads((tmp_path / "prec_test.json").read_text())["val_iou"]["precision"] == "bfloat16"

    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    info = solarcnn.setup(seed=0, notebook="prec_test", mixed_precision="auto", verbose=False)
    if not any("gpu" in d.lower() or "cuda" in d.lower() for d in info.devices):
        assert info.precision == "float32" and keras.mixed_precision.global_policy().name == "float32"
        solarcnn.record("val_iou", 0.5, verbose=False)
        assert json.loads((tmp_path / "prec_test.json").read_text())["val_iou"]["precision"] == "float32"


@pytest.mark.parametrize("value,policy", [("float32", "float32"), ("bfloat16", "mixed_bfloat16"),
                                          (True, "mixed_bfloat16"), (False, "float32")])
def test_setup_explicit_precisions(value, policy):
    import keras

    info = solarcnn.setup(seed=0, mixed_precision=value, verbose=False)
    assert keras.mixed_precision.global_policy().name == policy
    assert info.precision == ("bfloat16" if policy == "mixed_bfloat16" else "float32")


def test_setup_refuses_an_unknown_precision():
    with pytest.raises(ValueError, match="received 'fp16'"):
        solarcnn.setup(seed=0, mixed_precision="fp16", verbose=False)


def test_gpu_compute_capability_reads_nvidia_smi(monkeypatch):
    class Out:
        returncode, stdout = 0, "8.0\n9.0\n"

    monkeypatch.setattr(runtime.subprocess, "run", lambda *a, **k: Out())
    assert runtime.gpu_compute_capability() == (8, 0)

    def missing(*a, **k):
        raise FileNotFoundError("nvidia-smi")

    monkeypatch.setattr(runtime.subprocess, "run", missing)
    assert runtime.gpu_compute_capability() is None


def test_clear_session_keeps_the_chosen_precision():
    """Keras' clear_session resets the global dtype policy to float32; notebooks 04 and 07 cleared the session
    between models and so trained in float32 after setup had chosen bf16. runtime.clear_session keeps it."""
    import keras

    solarcnn.setup(seed=0, mixed_precision="bfloat16", verbose=False)
    solarcnn.runtime.clear_session()
    assert keras.config.dtype_policy().name == "mixed_bfloat16"
    keras.backend.clear_session()                  # the reason for the helper: Keras' own resets the policy
    assert keras.config.dtype_policy().name == "float32"
    solarcnn.setup(seed=0, mixed_precision="float32", verbose=False)
    solarcnn.runtime.clear_session()
    assert keras.config.dtype_policy().name == "float32"


def test_no_notebook_or_track_calls_keras_clear_session_directly():
    """Every session clear in the course keeps the precision (runtime.clear_session)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = [str(p.relative_to(root)) for p in [*root.glob("notebooks/*.ipynb"), *root.glob("solarcnn/**/*.py")]
                 if "keras.backend.clear_session()" in p.read_text(encoding="utf-8") and p.name != "runtime.py"]
    assert not offenders, f"use solarcnn.runtime.clear_session() (keeps the precision policy): {offenders}"
