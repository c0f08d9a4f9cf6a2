"""setup(), the FITS reader's error paths, the synthetic-data interface."""
import gzip

import numpy as np
import pytest
from astropy.io import fits

import solarcnn
from solarcnn import synthetic
from solarcnn.errors import DataFileError
from solarcnn.io import read_fits, write_fits


def test_setup_seeds_and_reports(capsys):
    import keras

    info = solarcnn.setup(seed=3, notebook="t")
    a = keras.random.uniform((3,)), np.random.rand()
    solarcnn.setup(seed=3, notebook="t", verbose=False)
    b = keras.random.uniform((3,)), np.random.rand()
    assert np.allclose(keras.ops.convert_to_numpy(a[0]), keras.ops.convert_to_numpy(b[0])) and a[1] == b[1]
    out = capsys.readouterr().out
    assert f"backend {info.backend}" in out and "Keras 3." in out
    assert info.backend == keras.backend.backend()


def test_setup_mixed_precision_policy():
    import keras

    solarcnn.setup(seed=0, mixed_precision=True, verbose=False)
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    solarcnn.setup(seed=0, verbose=False)
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.fixture
def good_fits(tmp_path):
    data = (np.arange(64, dtype=">i2").reshape(8, 8))
    return write_fits(tmp_path / "good.fits", data, fits.Header({"TELESCOP": "TEST"}))


def test_read_fits_converts_big_endian(good_fits):
    img, hdr = read_fits(good_fits)
    assert img.dtype == np.float32 and img.dtype.byteorder in "=|" and img[7, 7] == 63
    assert hdr["TELESCOP"] == "TEST"


def test_read_fits_gz_and_image_in_hdu1(tmp_path):
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.ones((4, 5), "f4"))])
    p = tmp_path / "comp.fits.gz"
    hdul.writeto(p)
    img, _ = read_fits(p)
    assert img.shape == (4, 5)


@pytest.mark.parametrize("case, message", [
    ("missing", "file not found"),
    ("empty", r"file is empty \(0 bytes\)"),
    ("garbage", "not a readable FITS file"),
    ("truncated", "truncated or corrupt|not a readable FITS file"),
    ("badgzip", "corrupt or truncated gzip data"),
])
def test_read_fits_bad_files_name_the_file(tmp_path, good_fits, case, message):
    p = tmp_path / f"{case}.fits"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "garbage":
        p.write_bytes(b"this is not FITS" * 300)
    elif case == "truncated":
        big = write_fits(tmp_path / "big.fits", np.ones((200, 200), "f4"))
        p.write_bytes(big.read_bytes()[:5000])
    elif case == "badgzip":
        p = tmp_path / "bad.fits.gz"
        p.write_bytes(gzip.compress(good_fits.read_bytes())[:200])
    with pytest.raises(DataFileError, match=message) as err:
        read_fits(p)
    assert str(p) in str(err.value)


def test_read_fits_shape_hdu_and_nan_checks(tmp_path, good_fits):
    with pytest.raises(DataFileError, match=r"shape \(8, 8\), expected \(512, 512\)"):
        read_fits(good_fits, expect_shape=(512, 512))
    with pytest.raises(DataFileError, match="has no HDU 3"):
        read_fits(good_fits, hdu=3)
    nanfile = write_fits(tmp_path / "nan.fits", np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(DataFileError, match=r"1 NaN pixel"):
        read_fits(nanfile, allow_nan=False)
    empty = tmp_path / "nodata.fits"
    fits.PrimaryHDU().writeto(empty)
    with pytest.raises(DataFileError, match="no image HDU"):
        read_fits(empty)


def test_write_fits_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "x.fits"

    def boom(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(fits.HDUList, "writeto", boom)
    with pytest.raises(KeyboardInterrupt):
        write_fits(target, np.ones((3, 3)))
    assert not target.exists()


def test_synthetic_example_is_deterministic_and_real_format(tmp_path):
    gen = synthetic.get("sunspot_disk", seed=5, size=64)
    paths = gen.write(tmp_path, 3, n_jobs=1, progress=False)
    again = synthetic.get("sunspot_disk", seed=5, size=64).sample(2)
    img, hdr = read_fits(paths[2])
    assert np.array_equal(img, again.data.astype("f4"), equal_nan=True)
    assert hdr["CTYPE1"] == "HPLN-TAN" and hdr["BUNIT"] == "DN/s" and hdr["NSPOTS"] == again.label
    assert np.isnan(img[0, 0]) and np.isfinite(img[32, 32])
    # resumable: an existing file is kept, not rewritten
    mtime = paths[0].stat().st_mtime_ns
    gen.write(tmp_path, 3, progress=False)
    assert paths[0].stat().st_mtime_ns == mtime
    # parallel workers give the same files
    par = synthetic.get("sunspot_disk", seed=5, size=64).write(tmp_path / "par", 3, n_jobs=2, progress=False)
    assert all(np.array_equal(read_fits(a)[0], read_fits(b)[0], equal_nan=True) for a, b in zip(paths, par))


def test_synthetic_limb_darkening_follows_the_law():
    gen = synthetic.get("sunspot_disk", seed=0, size=200, max_spots=0)
    s = gen.sample(0, label=0)
    yy, xx = np.mgrid[0:200, 0:200]
    r = np.hypot(xx - 99.5, yy - 99.5) * gen.cdelt / gen.rsun_arcsec
    centre = np.nanmean(s.data[r < 0.1])
    # annulus at r = 0.6 R (mu = 0.8): expected 1 - 0.45*0.2 - 0.22*0.04 = 0.9012 (mean over the ring)
    ring = (r > 0.59) & (r < 0.61)
    mu = np.sqrt(1 - r[ring] ** 2)
    expected = np.mean(1 - 0.45 * (1 - mu) - 0.22 * (1 - mu) ** 2) / np.mean(
        (lambda m: 1 - 0.45 * (1 - m) - 0.22 * (1 - m) ** 2)(np.sqrt(1 - r[r < 0.1] ** 2)))
    assert np.nanmean(s.data[ring]) / centre == pytest.approx(expected, abs=0.005)
    assert expected == pytest.approx(0.9012, abs=0.005)


def test_synthetic_errors():
    with pytest.raises(KeyError, match="no synthetic generator 'nope'"):
        synthetic.get("nope")
    with pytest.raises(ValueError, match="received -1"):
        synthetic.get("sunspot_disk", seed=-1)
    with pytest.raises(ValueError, match="received 4"):
        synthetic.get("sunspot_disk", size=4)


# --------------------------------------------------------------------------- GPU probe and warning
def _fake_run(stdout, returncode=0):
    import subprocess

    def run(cmd, **kw):
        assert cmd[:2] == ["nvidia-smi", "-L"]
        return subprocess.CompletedProcess(cmd, returncode, stdout=stdout, stderr="")
    return run


def test_nvidia_gpus_reads_nvidia_smi_then_proc(monkeypatch, tmp_path):
    from solarcnn import runtime

    smi = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-5678)\n"
    monkeypatch.setattr(runtime.subprocess, "run", _fake_run(smi))
    assert runtime.nvidia_gpus() == smi.strip().splitlines()

    def missing(cmd, **kw):
        raise FileNotFoundError(cmd[0])
    monkeypatch.setattr(runtime.subprocess, "run", missing)
    proc = tmp_path / "gpus"
    (proc / "0000:3b:00.0").mkdir(parents=True)
    real_path = runtime.Path
    monkeypatch.setattr(runtime, "Path", lambda p: proc if p == "/proc/driver/nvidia/gpus" else real_path(p))
    assert runtime.nvidia_gpus() == ["NVIDIA GPU at PCI 0000:3b:00.0"]
    proc.joinpath("0000:3b:00.0").rmdir()
    assert runtime.nvidia_gpus() == []


def test_gpu_warning_only_when_a_gpu_is_unused(monkeypatch):
    from solarcnn.runtime import gpu_warning

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpus = ["GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1)"]
    msg = gpu_warning("tensorflow", ["cpu:0"], gpus)
    assert "1 NVIDIA GPU" in msg and "A100" in msg and "solarcnn[gpu]" in msg and "cpu:0" in msg
    assert "jax[cuda12]" in gpu_warning("jax", ["cpu:0"], gpus)
    assert gpu_warning("tensorflow", ["cpu:0", "gpu:0"], gpus) is None        # the backend uses it
    assert gpu_warning("torch", ["cuda:0"], gpus) is None
    assert gpu_warning("tensorflow", ["cpu:0"], []) is None                   # no GPU on the machine
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpu_warning("tensorflow", ["cpu:0"], gpus) is None                 # hidden on purpose


def test_setup_warns_when_the_backend_cannot_use_the_machines_gpu(monkeypatch, capsys):
    import warnings

    from solarcnn import runtime

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(runtime, "nvidia_gpus", lambda: ["GPU 0: NVIDIA L4 (UUID: GPU-9)"])
    monkeypatch.setattr(runtime, "_devices", lambda backend: ["cpu:0"])
    with pytest.warns(RuntimeWarning, match=r"1 NVIDIA GPU\(s\) \(GPU 0: NVIDIA L4.*sees only cpu:0"):
        info = solarcnn.setup(seed=1, verbose=True, style=False)
    assert info.machine_gpus == ["GPU 0: NVIDIA L4 (UUID: GPU-9)"] and "devices: cpu:0" in capsys.readouterr().out
    monkeypatch.setattr(runtime, "_devices", lambda backend: ["cpu:0", "gpu:0"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        solarcnn.setup(seed=1, verbose=False, style=False)                    # uses the GPU: no warning
