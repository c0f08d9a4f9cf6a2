"""Data-side benchmarks: the package's preparation code vs a straightforward sequential loop.

| name | package side | reference (written here, from the spec) | unit |
|---|---|---|---|
| ``fits_prep`` | `solarcnn.slic.prep` directory preparation (n_jobs = cores) | astropy read → zero-pixel check → per-image byte-scale → Pillow bicubic 256² → uint8 row, one file after another | files/s |
| ``cirrus_masks`` | `solarcnn.cirrus.masks.generate_mask` over the files (its batch function if it has one, else `parallel_map`) | 4×4 block mean → /2¹⁴ → astropy ZScale(0.9) → LogStretch(1e5) → Otsu, one after another | files/s |
| ``deepcam_loader`` | the `solarcnn.deepcam` `keras.utils.PyDataset` loader, iterated once | open each HDF5 file, read every dataset, min–max normalise, stack a batch | samples/s |

Both sides run once on a few files, untimed, before the timed runs: the imports (astropy, scikit-image,
Pillow, h5py) and the page cache are then warm for both, and neither pays them inside its timing.

Inputs: the 18 genuine Hinode/SOT example files (replicated into a temporary folder
to get enough work), and synthetic files in the real on-disk layouts for CIRRUS
(512 × 640 raw frames) and DeepCAM (768 × 1152 × 16 float32 HDF5, full resolution),
written to a temporary folder.  The normalisation file is the real ``stats.h5``.
"""
from __future__ import annotations

import importlib
import inspect
import os
import shutil
import time
from pathlib import Path

import numpy as np

MIRROR_ENV = "SOLARCNN_DATA_MIRROR"


def _data_path(dataset: str, relpath: str) -> Path:
    """A file of the data registry (``solarcnn.data.fetch``, which reads ``$SOLARCNN_DATA_MIRROR`` when set);
    a registry error (not fetched, checksum mismatch) stops the benchmark with its message."""
    from solarcnn.data import fetch

    return Path(fetch(dataset, relpath))


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _find(module: str, *names):
    """First attribute of `module` among `names`; (None, reason) when it is not there yet."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:
        return None, f"{module} not importable ({type(exc).__name__}: {exc})"
    for n in names:
        if hasattr(mod, n):
            return getattr(mod, n), f"{module}.{n}"
    return None, f"{module} has none of {names}"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


REPEATS = 3
LOADER_PAIRS = 9
# Environment of a benchmark's worker process, per data benchmark. The DeepCAM loader moves 56 MB arrays,
# above glibc's largest dynamic mmap threshold (32 MB): every read mapped fresh pages, and the first-touch
# page faults made the reference's passes bimodal (5.5-12.4 samples/s, on disk and on tmpfs alike, ratios
# 3.7-5.7 between runs). With freed memory kept in the heap for both sides, its passes took 14.3-14.7
# samples/s and the package's 54-63 (two runs: 4.25 and 4.03).
WORKER_ENV = {"deepcam_loader": {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}}


def _median_timed(fn, repeats: int = REPEATS):
    """Median wall time of `repeats` calls ``fn(k)`` (k = 0, 1, ...: a fresh output folder per call) and the
    last result; the two sides alternate between calls, so a load change hits both."""
    times, out = [], None
    for k in range(repeats):
        t, out = _timed(lambda: fn(k))
        times.append(t)
    return sorted(times)[len(times) // 2], out, times


def _paired_timed(ref_fn, pkg_fn, repeats: int = REPEATS) -> dict:
    """`repeats` interleaved pairs of calls ``ref_fn(k)`` and ``pkg_fn(k)`` (k = 0, 1, ...: a fresh output folder
    per call), the order alternating (R-P, P-R, ...) so a change of load hits both sides of a pair. Returns the
    median times, all times, the last reference output and the per-pair ratios ``ref time / package time``
    (`benchmarks.models.ratio_stats`: median, quartiles, range)."""
    from benchmarks.models import ratio_stats

    ref_times, pkg_times, ref_out = [], [], None
    for k in range(repeats):
        if k % 2 == 0:
            t_ref, ref_out = _timed(lambda: ref_fn(k))
            t_pkg, _ = _timed(lambda: pkg_fn(k))
        else:
            t_pkg, _ = _timed(lambda: pkg_fn(k))
            t_ref, ref_out = _timed(lambda: ref_fn(k))
        ref_times.append(t_ref)
        pkg_times.append(t_pkg)
    med = lambda v: sorted(v)[len(v) // 2]   # noqa: E731
    return {"ref_s": med(ref_times), "pkg_s": med(pkg_times), "ref_times": ref_times, "pkg_times": pkg_times,
            "ref_out": ref_out, "ratio": ratio_stats(r / p for r, p in zip(ref_times, pkg_times))}


# ---------------------------------------------------------------- FITS preparation (Slic)
def bytescale(img: np.ndarray) -> np.ndarray:
    """``scipy.misc.imresize``'s per-image byte-scaling: min–max to 0…255, rounded half up (slic.md §4)."""
    img = np.asarray(img, dtype=np.float64)
    lo, hi = img.min(), img.max()
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return (np.clip((img - lo) * scale, 0, 255) + 0.5).astype(np.uint8)


def reference_fits_prep(files: list[Path], labels: list[int], size: int = 256) -> np.ndarray:
    """Sequential reference: one file after another, the original's steps, rows of 1 + size² uint8."""
    from astropy.io import fits
    from PIL import Image

    rows = []
    for f, lab in zip(files, labels):
        img = fits.getdata(f).astype(np.float64)
        if np.any(img == 0):
            continue
        small = np.asarray(Image.fromarray(bytescale(img)).resize((size, size), Image.BICUBIC), dtype=np.uint8)
        rows.append(np.concatenate([[np.uint8(lab)], small.ravel()]))
    return np.stack(rows)


def _slic_tree(workdir: Path, copies: int) -> tuple[Path, list[Path], list[int]]:
    src = _data_path("hinode_sot", "FG20111008_111533.0.fits.gz").parent
    originals = sorted(src.glob("*.fits.gz"))
    if not originals:
        raise FileNotFoundError(f"{src}: no Hinode/SOT *.fits.gz files found (set {MIRROR_ENV})")
    root = workdir / "slic_src"
    files, labels = [], []
    classes = ["filaments", "flares", "prominences", "quiet", "sunspots"]
    for c in range(copies):
        cls = classes[c % len(classes)]
        (root / cls).mkdir(parents=True, exist_ok=True)
        for f in originals:
            dst = root / cls / f"c{c:02d}_{f.name}"
            shutil.copyfile(f, dst)
            files.append(dst)
            labels.append(classes.index(cls))
    return root, files, labels


def bench_fits_prep(workdir: Path, quick: bool) -> dict:
    root, files, labels = _slic_tree(workdir, copies=12 if quick else 60)   # 216 / 1080 files

    def ref(k):
        rows = reference_fits_prep(files, labels)
        np.savez(workdir / f"solar_train_data_{k}.npz", data=rows)
        return rows

    fn, where = _find("solarcnn.slic.prep", "prepare_directory", "prepare_dataset", "prepare")
    if fn is None:
        return {"name": "fits_prep", "error": f"package side not available: {where}"}
    kw = {}
    params = inspect.signature(fn).parameters
    if "n_jobs" in params:
        kw["n_jobs"] = _cores()
    if "progress" in params:
        kw["progress"] = False
    warm_src = workdir / "slic_warm"
    (warm_src / "filaments").mkdir(parents=True, exist_ok=True)
    for f in files[:2]:
        shutil.copyfile(f, warm_src / "filaments" / f.name)
    reference_fits_prep(files[:2], labels[:2])                                # warm-up, untimed
    warm_s, _ = _timed(lambda: fn(warm_src, workdir / "slic_warm_out", **kw))  # warm-up (starts the workers)
    pair = _paired_timed(ref, lambda k: fn(root, workdir / f"slic_out_{k}", **kw))
    ref_s, rows, ref_times = pair["ref_s"], pair["ref_out"], pair["ref_times"]
    pkg_s, pkg_times = pair["pkg_s"], pair["pkg_times"]
    return {"ratio_stats": pair["ratio"], "name": "fits_prep", "items": len(files), "unit": "files/s",
            "package_function": where,
            "reference_rate": len(files) / ref_s, "reference_s": ref_s, "reference_times_s": ref_times,
            "reference_rows": int(rows.shape[0]), "package_rate": len(files) / pkg_s, "package_s": pkg_s,
            "package_times_s": pkg_times, "package_warmup_s": warm_s, "ratio": pair["ratio"]["median"],
            "notes": f"{len(files)} = {len(files) // 18} copies of the 18 genuine Hinode/SOT files; "
                     f"n_jobs={kw.get('n_jobs', 'default')}; {REPEATS} interleaved pairs, median ratio; "
                     f"first call on 2 files "
                     f"(starts the workers, untimed) {warm_s:.2f} s"}


# ---------------------------------------------------------------- CIRRUS masks
def write_cirrus_frames(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Synthetic 512 × 640 int16 LWIR frames (gradient sky + noise + warm cloud blobs) as FITS."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:512, 0:640]
    out = []
    for i in range(n):
        sky = 3000 + 2 * xx + rng.normal(0, 20, (512, 640))
        for _ in range(rng.integers(2, 6)):
            cy, cx, r = rng.uniform(0, 512), rng.uniform(0, 640), rng.uniform(40, 160)
            sky += 4000 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r ** 2))
        path = folder / f"frame_{i:03d}_flux.fits"
        fits.PrimaryHDU(np.clip(sky, 0, 16383).astype(np.int16)).writeto(path, overwrite=True)
        out.append(path)
    return out


def reference_mask(path: Path) -> np.ndarray:
    """Sequential reference of the CIRRUS ground-truth mask (cirrus.md §3), in memory."""
    from astropy.io import fits
    from astropy.visualization import LogStretch, ZScaleInterval
    from skimage.filters import threshold_otsu

    img = fits.getdata(path).astype(np.float64)
    img = img.reshape(128, 4, 160, 4).mean(axis=(1, 3)) / 2 ** 14
    s = (LogStretch(a=100000) + ZScaleInterval(contrast=0.9))(img)
    return (s > threshold_otsu(s)).astype(np.int8)


def reference_mask_file(path: Path, out_dir: Path) -> Path:
    """Reference mask written like the original: HDU0 = binned image, HDU1 = int8 mask (GROUND-TRUTH)."""
    from astropy.io import fits

    out_dir.mkdir(parents=True, exist_ok=True)
    img = fits.getdata(path).astype(np.float64).reshape(128, 4, 160, 4).mean(axis=(1, 3))
    hdu1 = fits.ImageHDU(reference_mask(path))
    hdu1.header["IMGTYPE"] = "GROUND-TRUTH"
    out = out_dir / path.name.replace("_flux.fits", "_masked.fits")
    fits.HDUList([fits.PrimaryHDU(img), hdu1]).writeto(out, overwrite=True)
    return out


def bench_cirrus_masks(workdir: Path, quick: bool) -> dict:
    files = write_cirrus_frames(workdir / "cirrus", 96 if quick else 384)
    batch_fn, where = _find("solarcnn.cirrus.masks", "generate_masks", "generate_mask_directory")
    if batch_fn is None:
        return {"name": "cirrus_masks", "error": f"package side not available: {where}"}
    params = inspect.signature(batch_fn).parameters
    kw = {k: v for k, v in (("n_jobs", _cores()), ("progress", False)) if k in params}
    [reference_mask_file(f, workdir / "cirrus_ref_warm") for f in files[:2]]    # warm-up, untimed
    warm_s, _ = _timed(lambda: batch_fn(files[:2], workdir / "cirrus_pkg_warm", **kw))   # starts the workers
    pair = _paired_timed(lambda k: [reference_mask_file(f, workdir / f"cirrus_ref_out_{k}") for f in files],
                         lambda k: batch_fn(files, workdir / f"cirrus_pkg_out_{k}", **kw))
    ref_s, ref_times, pkg_s, pkg_times = pair["ref_s"], pair["ref_times"], pair["pkg_s"], pair["pkg_times"]
    return {"name": "cirrus_masks", "ratio_stats": pair["ratio"], "items": len(files), "unit": "files/s",
            "package_function": f"{where}(n_jobs={kw.get('n_jobs')})",
            "reference_rate": len(files) / ref_s, "reference_s": ref_s, "reference_times_s": ref_times,
            "package_rate": len(files) / pkg_s, "package_s": pkg_s, "package_times_s": pkg_times,
            "package_warmup_s": warm_s, "ratio": pair["ratio"]["median"],
            "notes": f"synthetic 512×640 int16 frames (real CIRRUS frames are not public); {REPEATS} interleaved "
                     f"pairs, median ratio; first call on 2 files (starts the workers, untimed) {warm_s:.2f} s"}


# ---------------------------------------------------------------- DeepCAM HDF5 loader
def write_deepcam_files(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Synthetic DeepCAM samples at full resolution in the reference HDF5 layout (deepcam.md §2.1)."""
    import h5py

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    base = rng.standard_normal((768, 1152, 16), dtype=np.float32)
    for i in range(n):
        path = folder / f"data-2006-01-{1 + i // 8:02d}-{(i % 8) * 3:02d}-1.h5"
        with h5py.File(path, "w") as h:
            g = h.create_group("climate")
            g["data"] = np.roll(base, i, axis=1)
            lab = rng.integers(0, 3, size=(768, 1152)).astype(np.float32)
            g["labels_0"] = lab
            g["labels_1"] = lab
            g["data_stats"] = np.zeros((4, 16), np.float32)
            g["labels_0_stats"] = np.zeros((7, 1), np.float32)
            g["labels_1_stats"] = np.zeros((7, 1), np.float32)
        out.append(path)
    return out


def reference_deepcam_batches(files: list[Path], stats: Path, batch: int):
    """Naive loader: open every file, read every dataset in full, normalise, stack batches."""
    import h5py

    with h5py.File(stats, "r") as h:
        lo = h["climate/minval"][...].astype(np.float32)
        hi = h["climate/maxval"][...].astype(np.float32)
    for i in range(0, len(files) - batch + 1, batch):
        xs, ys = [], []
        for f in files[i:i + batch]:
            with h5py.File(f, "r") as h:
                everything = {k: h["climate"][k][...] for k in h["climate"]}
            xs.append((everything["data"] - lo) / (hi - lo))
            ys.append(everything["labels_0"].astype(np.int64))
        yield np.stack(xs), np.stack(ys)


def _deepcam_dataset_class():
    """The package's DeepCAM `PyDataset` (the first PyDataset subclass found in solarcnn.deepcam.*)."""
    import pkgutil

    import keras

    import solarcnn.deepcam as dc

    for info in pkgutil.iter_modules(dc.__path__):
        try:
            mod = importlib.import_module(f"solarcnn.deepcam.{info.name}")
        except Exception:
            continue
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and issubclass(obj, keras.utils.PyDataset) and obj.__module__ == mod.__name__:
                return obj, f"{mod.__name__}.{name}"
    return None, "no keras.utils.PyDataset subclass in solarcnn.deepcam yet"


def bench_deepcam_loader(workdir: Path, quick: bool, batch: int = 2) -> dict:
    n = 8 if quick else 16
    files = write_deepcam_files(workdir / "deepcam", n)
    stats = _data_path("deepcam_stats", "stats.h5")
    cls, where = _deepcam_dataset_class()
    if cls is None:
        return {"name": "deepcam_loader", "error": f"package side not available: {where}"}
    params = inspect.signature(cls).parameters
    kw = {}
    # the loader's own defaults otherwise (one prefetch worker; its batches read their samples in parallel:
    # Keras' PyDataset with 2 workers was slower here, 22-37 against 57-77 samples/s)
    for key, val in (("stats_file", stats), ("stats", stats), ("batch_size", batch), ("shuffle", False)):
        if key in params:
            kw[key] = val
    first = next(iter(params))
    ds = cls(**({first: files if "files" in first else workdir / "deepcam"} | kw))
    got = len(ds) * batch
    # warm-up, untimed: imports, page cache, and one whole pass of each side (the heap grows to its size)
    sum(1 for _ in reference_deepcam_batches(files, stats, batch))
    sum(len(ds[i][0]) for i in range(len(ds)))
    # each pass consumes its batches one at a time, as a training loop does (holding them all would time
    # the allocator); 9 interleaved pairs of passes (with 5, two runs' medians differed by 0.9: the
    # reference's passes are bimodal, 8-13 samples/s)
    pair = _paired_timed(lambda k: sum(1 for _ in reference_deepcam_batches(files, stats, batch)),
                         lambda k: sum(len(ds[i][0]) for i in range(len(ds))), repeats=LOADER_PAIRS)
    ref_s, ref_times, direct_s, direct_times = pair["ref_s"], pair["ref_times"], pair["pkg_s"], pair["pkg_times"]
    res = {"name": "deepcam_loader", "items": n, "unit": "samples/s", "package_function": where,
           "reference_rate": n / ref_s, "reference_s": ref_s, "reference_times_s": ref_times,
           "package_direct_rate": got / direct_s, "package_direct_s": direct_s, "package_direct_times_s": direct_times}
    adapter_rate = None
    try:   # what fit() does: Keras' PyDataset adapter with `workers` prefetch threads
        from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

        def through_adapter(k):
            adapter = PyDatasetAdapter(ds, shuffle=False)
            count = sum(1 for _ in adapter.get_numpy_iterator())
            adapter.on_epoch_end()
            return count

        adapter_s, _, adapter_times = _median_timed(through_adapter, repeats=5)
        adapter_rate = got / adapter_s
        res.update(package_adapter_rate=adapter_rate, package_adapter_times_s=adapter_times)
    except Exception as exc:
        res["adapter_error"] = f"{type(exc).__name__}: {exc}"
    # the headline is the median of the interleaved pairs (reference vs the direct loader, per-pair ratios
    # scaled to samples); the best of two separately timed rates (direct, adapter) was biased and noisy
    from benchmarks.models import ratio_stats

    res["ratio_stats"] = {**ratio_stats(r * got / n for r in pair["ratio"]["ratios"]),
                          "of": "package direct ds[i] vs reference, interleaved"}
    res.update(package_rate=got / direct_s, ratio=res["ratio_stats"]["median"],
               notes=f"full 768×1152×16 float32, batch {batch}, synthetic values in the real layout; "
                     f"{LOADER_PAIRS} interleaved pairs of passes, median ratio; direct ds[i] {got / direct_s:.2f}/s, "
                     f"via fit's adapter {adapter_rate and f'{adapter_rate:.2f}'}/s (timed apart)")
    return res


BENCHES = {"fits_prep": bench_fits_prep, "cirrus_masks": bench_cirrus_masks, "deepcam_loader": bench_deepcam_loader}


def run(name: str, *, quick: bool, workdir) -> dict:
    if name not in BENCHES:
        raise ValueError(f"unknown data benchmark {name!r}; choose from {sorted(BENCHES)}")
    return BENCHES[name](Path(workdir), quick)
