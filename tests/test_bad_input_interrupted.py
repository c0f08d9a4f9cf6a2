"""Interrupted data builds (issue 13): a real ``kill -9`` of a subprocess in the middle of a build, then a re-run
that must keep every file finished before the kill and continue from there (no restart from zero, no half file
under a final name).

Covered: the CIRRUS synthetic data set (`build_synthetic`, whose completion stamp used to be written only at the
end, so a killed first build was thrown away), a synthetic generator's `write` (DeepCAM ``cam5``) and the Slic
preparation (`prepare_directory`).
"""
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest


def snapshot(paths) -> dict:
    return {str(p): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths}


def kill_when(code: str, ready, timeout: float = 90.0) -> None:
    """Run `code` in a fresh Python, SIGKILL it as soon as ``ready()`` is true; fail if it ends by itself."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"the worker ended (rc {proc.returncode}) before it could be killed:\n"
                            + proc.stdout.read().decode(errors="replace")[-2000:])
            if time.monotonic() > deadline:
                pytest.fail("the worker made no progress in time")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def finished(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith(".part-"))


def test_cirrus_build_synthetic_resumes_after_kill9(tmp_path):
    from astropy.io import fits

    from solarcnn.cirrus.data import build_synthetic

    root = tmp_path / "lwir"
    kill_when(f"""
        from solarcnn.cirrus.data import build_synthetic
        build_synthetic({str(root)!r}, n_frames=400, sequence_length=2, masks=False)
    """, lambda: len(finished(root / "raw", "lwir_*.fits")) >= 3)
    done = finished(root / "raw", "lwir_*.fits")
    assert (root / "dataset.json").exists()                       # the stamp came before the first frame
    before = snapshot(done)
    d = build_synthetic(root, n_frames=len(done) + 1, sequence_length=2, masks=False)
    assert snapshot(done) == before                               # kept, not regenerated from zero
    assert len(d["raw"]) == len(done) + 1 and all(p.exists() for p in d["raw"])
    for p in d["raw"] + d["binned"]:
        fits.getdata(p)                                           # no half file under a final name


def test_generator_write_resumes_after_kill9(tmp_path):
    from solarcnn.deepcam.data import read_sample
    from solarcnn.synthetic import get

    out = tmp_path / "cam"
    kill_when(f"""
        from solarcnn.synthetic import get
        get("cam5", seed=3, size=(16, 16)).write({str(out)!r}, 100000, progress=False)
    """, lambda: len(finished(out, "data-*.h5")) >= 20)
    done = finished(out, "data-*.h5")
    before = snapshot(done)
    gen = get("cam5", seed=3, size=(16, 16))
    paths = gen.write(out, len(done) + 2, progress=False)
    assert sorted(map(str, gen.reused)) == sorted(map(str, done))
    assert snapshot(done) == before
    for p in paths:
        read_sample(p)
    with pytest.raises(Exception, match="seed"):                  # and the killed folder is still keyed
        get("cam5", seed=4, size=(16, 16)).write(out, 1, progress=False)


def test_slic_prepare_resumes_after_kill9(tmp_path):
    from astropy.io import fits

    from solarcnn.slic.prep import assemble, prepare_directory

    src, dst = tmp_path / "src", tmp_path / "prep"
    rng = np.random.default_rng(0)
    for c in ("flares", "quiet"):
        (src / c).mkdir(parents=True)
        for i in range(150):
            fits.PrimaryHDU(rng.uniform(1, 100, (128, 128))).writeto(src / c / f"f{i:03d}.fits")
    kill_when(f"""
        from solarcnn.slic.prep import prepare_directory
        prepare_directory({str(src)!r}, {str(dst)!r}, size=64, progress=False)
    """, lambda: len(finished(dst / "flares", "*.npz")) >= 5)
    done = finished(dst / "flares", "*.npz") + finished(dst / "quiet", "*.npz")
    before = snapshot(done)
    rep = prepare_directory(src, dst, size=64, progress=False)
    assert len(rep.reused) == len(done) and not rep.redone and not rep.failed
    assert len(rep.processed) == 300 - len(done)
    assert snapshot(done) == before
    d = assemble(src, dst, split="faithful")
    assert len(d.y_train) + len(d.y_val) == 300
