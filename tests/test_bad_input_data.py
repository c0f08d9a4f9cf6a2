"""Bad input on the data side (issue 13): every reader, preparer and loader gives a clear error naming the file
(or parameter), never a silent wrong answer, and never changes what already exists.

Areas: FITS readers, Slic preparation and classification, CIRRUS rebinning / masks / loaders, DeepCAM
split / generate / loader / checkpoint, flare labels / metrics / image readers, the model builders. Each test
hashes the inputs it is given and checks that they are unchanged afterwards. Interrupted runs
(``kill -9`` of a real subprocess) are in ``tests/test_bad_input_interrupted.py``.
"""
import gzip
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from solarcnn.errors import DataFileError


def tree_hash(root) -> dict:
    """{relative path: sha256 of the bytes, or 'link -> target'} of every entry under `root`."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link -> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def frame(seed=0, shape=(32, 32), low=1.0, high=100.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def write_fits(path, data, **header):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(np.asarray(data))
    for k, v in header.items():
        hdu.header[k] = v
    if path.name.endswith(".gz"):
        import io

        buf = io.BytesIO()
        hdu.writeto(buf)
        path.write_bytes(gzip.compress(buf.getvalue()))
    else:
        hdu.writeto(path, overwrite=True)
    return path


# =========================================================================================================
# FITS readers
# =========================================================================================================
@pytest.mark.parametrize("reader", ["read_fits", "read_image"])
@pytest.mark.parametrize("case", ["missing", "empty", "junk", "truncated", "truncated_gz", "table_only"])
def test_fits_readers_name_the_file(tmp_path, reader, case):
    from solarcnn.io import fits as iofits

    good = write_fits(tmp_path / "good.fits", frame())
    p = tmp_path / ("bad.fits.gz" if case == "truncated_gz" else "bad.fits")
    if case == "empty":
        p.write_bytes(b"")
    elif case == "junk":
        p.write_bytes(b"this is not a FITS file\n" * 200)
    elif case == "truncated":
        p.write_bytes(good.read_bytes()[:4000])          # header complete, data cut
    elif case == "truncated_gz":
        p.write_bytes(gzip.compress(good.read_bytes())[:300])
    elif case == "table_only":
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
            [fits.Column(name="a", format="E", array=np.arange(3.0))])]).writeto(p)
    before = tree_hash(tmp_path)
    with pytest.raises(DataFileError) as err:
        getattr(iofits, reader)(p)
    assert str(p) in str(err.value)
    assert tree_hash(tmp_path) == before


def test_read_fits_shape_and_nan_checks(tmp_path):
    from solarcnn.io.fits import read_fits

    data = frame()
    data[3, 4] = np.nan
    p = write_fits(tmp_path / "nan.fits", data)
    with pytest.raises(DataFileError, match="NaN") as err:
        read_fits(p, allow_nan=False)
    assert str(p) in str(err.value)
    with pytest.raises(DataFileError, match=r"expected \(16, 16\)"):
        read_fits(p, expect_shape=(16, 16))
    with pytest.raises(DataFileError, match="no HDU 3"):
        read_fits(p, 3)


# =========================================================================================================
# Slic: frame check, preparation cache, classification
# =========================================================================================================
def slic_tree(root, n=3, classes=("flares", "quiet"), suffix=".fits"):
    for ci, c in enumerate(classes):
        for i in range(n):
            write_fits(root / c / f"f{i}{suffix}", frame(10 * ci + i), DATE_OBS=f"2012-01-0{i + 1}T00:00:00")
    return root


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_slic_non_finite_pixel_fails_frame_check(bad):
    from solarcnn.slic.prep import bytescale, frame_problem

    x = frame()
    x[5, 5] = bad
    assert frame_problem(x) is not None and ("inf" in frame_problem(x) or "NaN" in frame_problem(x))
    with pytest.raises(ValueError, match="NaN or inf"):
        bytescale(x)


def test_slic_prepare_skips_inf_frame_with_reason(tmp_path):
    from solarcnn.slic.prep import assemble, prepare_directory

    src = slic_tree(tmp_path / "src")
    x = frame(99)
    x[0, 0] = np.inf
    bad = write_fits(src / "flares" / "f9.fits", x)
    before = tree_hash(src)
    rep = prepare_directory(src, tmp_path / "out", size=16, progress=False)
    assert str(bad) in rep.skipped and "inf" in rep.skipped[str(bad)]
    d = assemble(src, tmp_path / "out", split="faithful")
    assert str(bad) not in d.files_train + d.files_val         # never reaches training
    assert len(d.files_train) + len(d.files_val) == 6
    assert tree_hash(src) == before


def test_slic_classify_refuses_inf_frame(tmp_path):
    import keras

    from solarcnn.slic.classify import classify

    x = frame()
    x[1, 2] = np.inf
    p = write_fits(tmp_path / "inf.fits", x)
    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(5)])
    with pytest.raises(DataFileError, match="inf") as err:
        classify([p], model)
    assert str(p) in str(err.value)


def test_slic_classify_cli_exit_code_on_inf_frame(tmp_path, capsys):
    import keras

    from solarcnn.slic.cli import main

    x = frame()
    x[1, 2] = np.inf
    p = write_fits(tmp_path / "inf.fits", x)
    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(5)])
    model.save(tmp_path / "m.keras")
    try:
        rc, message = main(["classify", str(p), "--model", str(tmp_path / "m.keras")]), ""
    except (DataFileError, SystemExit) as exc:          # whichever layer turns the error into an exit code
        rc, message = getattr(exc, "code", 1), str(exc)
    assert rc != 0
    captured = capsys.readouterr()
    assert "inf" in message + captured.err and str(p) + ":" not in captured.out     # no prediction printed


def test_slic_prepare_cache_keyed_by_size(tmp_path):
    from solarcnn.slic.prep import assemble, prepare_directory

    src = slic_tree(tmp_path / "src")
    out = tmp_path / "out"
    prepare_directory(src, out, size=32, progress=False)
    rep = prepare_directory(src, out, size=16, progress=False)        # same folder, other size
    assert len(rep.processed) == 6 and not rep.reused and len(rep.redone) == 6
    d = assemble(src, out, split="faithful")
    assert d.x_train.shape[1:3] == (16, 16)
    rep = prepare_directory(src, out, size=16, progress=False)        # now the same settings: reused
    assert len(rep.reused) == 6 and not rep.processed
    assert str(out) in str(rep)                                       # the report says where it reused from


def test_slic_prepare_redoes_changed_source(tmp_path):
    from solarcnn.slic.prep import assemble, prepare_directory, preprocess

    src = slic_tree(tmp_path / "src")
    out = tmp_path / "out"
    prepare_directory(src, out, size=16, progress=False)
    new = frame(1234) * 3
    target = src / "quiet" / "f1.fits"
    write_fits(target, new)
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    rep = prepare_directory(src, out, size=16, progress=False)
    assert rep.processed == [str(target)] and str(target) in rep.redone
    d = assemble(src, out, split="faithful")
    i = (d.files_train + d.files_val).index(str(target))
    x = np.concatenate([d.x_train, d.x_val])[i, ..., 0]
    np.testing.assert_array_equal(x, preprocess(new, 16))


def test_slic_twins_fits_and_fits_gz_counted_once(tmp_path):
    from solarcnn.slic.prep import assemble, list_files, prepare_directory

    src = slic_tree(tmp_path / "src")
    twin = write_fits(src / "quiet" / "f0.fits.gz", frame(10))         # same frame, compressed
    before = tree_hash(src)
    with pytest.warns(UserWarning, match="twin"):
        files = list_files(src)
    assert twin not in [p for _, p in files] and len(files) == 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = prepare_directory(src, tmp_path / "out", size=16, progress=False)
    assert str(twin) in rep.duplicates
    d = assemble(src, tmp_path / "out", split="faithful")
    assert len(d.files_train) + len(d.files_val) == 6
    assert tree_hash(src) == before


def test_slic_corrupt_prepared_file_is_redone_alone(tmp_path):
    from solarcnn.slic.prep import assemble, prepare_directory

    src = slic_tree(tmp_path / "src")
    out = tmp_path / "out"
    prepare_directory(src, out, size=16, progress=False)
    bad = out / "flares" / "f1.npz"
    bad.write_bytes(bad.read_bytes()[:50])                            # truncated zip
    rep = prepare_directory(src, out, size=16, progress=False)
    assert rep.processed == [str(src / "flares" / "f1.fits")] and len(rep.reused) == 5
    assert str(bad) in rep.redone[str(src / "flares" / "f1.fits")]
    assert len(assemble(src, out, split="faithful").y_train) + 1 >= 5
    bad.write_bytes(b"garbage")
    with pytest.raises(DataFileError) as err:                        # assemble alone names the file
        assemble(src, out, split="faithful")
    assert str(bad) in str(err.value)


@pytest.mark.parametrize("size", [0, -3, 2.5, "64", True])
def test_slic_prepare_bad_size(tmp_path, size):
    from solarcnn.slic.prep import prepare_directory

    src = slic_tree(tmp_path / "src", n=1)
    with pytest.raises(ValueError, match="size"):
        prepare_directory(src, tmp_path / "out", size=size, progress=False)
    assert not (tmp_path / "out").exists()


def test_slic_prepare_unreadable_and_3d_files_reported_by_name(tmp_path):
    from solarcnn.slic.prep import prepare_directory

    src = slic_tree(tmp_path / "src", n=2)
    junk = src / "quiet" / "junk.fits"
    junk.write_bytes(b"not fits" * 100)
    cube = write_fits(src / "quiet" / "cube.fits", np.ones((2, 8, 8)))
    with pytest.warns(UserWarning, match="could not be read"):
        rep = prepare_directory(src, tmp_path / "out", size=16, progress=False)
    assert str(junk) in rep.failed[str(junk)] and "2-D" in rep.failed[str(cube)]
    assert len(rep.processed) == 4


def test_slic_load_npz_bad_files(tmp_path):
    from solarcnn.slic.prep import load_npz

    cases = {"trunc.npz": None, "nokey.npz": {"x": np.zeros((2, 5), np.uint8)},
             "float.npz": {"data": np.zeros((2, 17))}, "rows.npz": {"data": np.zeros((2, 18), np.uint8)}}
    for name, arrays in cases.items():
        p = tmp_path / name
        if arrays is None:
            np.savez(p, data=np.zeros((2, 17), np.uint8))
            p.write_bytes(p.read_bytes()[:60])
        else:
            np.savez(p, **arrays)
        with pytest.raises(DataFileError) as err:
            load_npz(p)
        assert str(p) in str(err.value)


# =========================================================================================================
# CIRRUS: rebinning, masks, loaders
# =========================================================================================================
def cirrus_frame(seed=0, shape=(128, 160)):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return 2000 + 3000 * np.exp(-((yy - 60) ** 2 + (xx - 80) ** 2) / 800.0) + rng.normal(0, 30, shape)


def test_rebin_cache_keyed_by_source(tmp_path):
    from solarcnn.cirrus.rebin import rebin, rebin_fits

    src = write_fits(tmp_path / "a_flux.fits", cirrus_frame(0, (256, 320)))
    out = rebin_fits(src, tmp_path / "b", overwrite=False)
    first = fits.getdata(out)
    new = cirrus_frame(5, (256, 320))
    write_fits(src, new)
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    out = rebin_fits(src, tmp_path / "b", overwrite=False)            # the source changed: made again
    np.testing.assert_allclose(fits.getdata(out), rebin(new))
    assert not np.allclose(fits.getdata(out), first)
    mtime = out.stat().st_mtime_ns
    assert rebin_fits(src, tmp_path / "b", overwrite=False).stat().st_mtime_ns == mtime   # same: reused
    out64 = rebin_fits(src, tmp_path / "b", (64, 80), overwrite=False)                      # other bin: redone
    assert fits.getdata(out64).shape == (64, 80)


def test_rebin_corrupt_output_is_made_again(tmp_path):
    from solarcnn.cirrus.rebin import rebin_fits

    src = write_fits(tmp_path / "a_flux.fits", cirrus_frame(0, (256, 320)))
    out = rebin_fits(src, tmp_path / "b", overwrite=False)
    out.write_bytes(out.read_bytes()[:3000])
    out = rebin_fits(src, tmp_path / "b", overwrite=False)
    assert fits.getdata(out).shape == (128, 160)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_rebin_refuses_non_finite_frame(tmp_path, bad):
    from solarcnn.cirrus.rebin import rebin_fits

    x = cirrus_frame(0, (256, 320))
    x[10, 10] = bad
    src = write_fits(tmp_path / "a_flux.fits", x)
    with pytest.raises(DataFileError, match="NaN or inf") as err:
        rebin_fits(src, tmp_path / "b")
    assert str(src) in str(err.value) and not (tmp_path / "b" / "a_flux_binned.fits").exists()


def test_constant_frame_mask_is_an_error(tmp_path):
    from solarcnn.cirrus.masks import generate_mask, generate_mask_file

    with pytest.raises(ValueError, match="constant"):
        generate_mask(np.full((128, 160), 1234.0))
    src = write_fits(tmp_path / "c_flux.fits", np.full((128, 160), 1234.0))
    before = tree_hash(tmp_path)
    with pytest.raises(DataFileError, match="constant") as err:
        generate_mask_file(src, tmp_path / "m")
    assert str(src) in str(err.value)
    assert tree_hash(tmp_path) == before


def test_all_nan_frame_mask_names_the_file(tmp_path):
    from solarcnn.cirrus.masks import generate_mask, generate_mask_file

    with pytest.raises(ValueError, match="NaN or inf"):
        generate_mask(np.full((128, 160), np.nan))
    src = write_fits(tmp_path / "n_flux.fits", np.full((128, 160), np.nan))
    with pytest.raises(DataFileError, match="NaN or inf") as err:
        generate_mask_file(src, tmp_path / "m")
    assert str(src) in str(err.value)


def test_mask_cache_keyed_by_parameters(tmp_path):
    from solarcnn.cirrus.masks import generate_mask, generate_mask_file

    raw = cirrus_frame(1)
    src = write_fits(tmp_path / "x_flux.fits", raw)
    out = generate_mask_file(src, tmp_path / "m", overwrite=False)
    out = generate_mask_file(src, tmp_path / "m", overwrite=False, contrast=0.25)   # other parameter: redone
    np.testing.assert_array_equal(fits.getdata(out, 1), generate_mask(raw, contrast=0.25))


def test_load_binned_and_masked_refuse_non_finite(tmp_path):
    from solarcnn.cirrus.data import load_binned
    from solarcnn.cirrus.masks import read_masked

    x = cirrus_frame(0)
    x[0, 0] = np.inf
    p = write_fits(tmp_path / "i_binned.fits", x, SKYCOND="CLEAR")
    with pytest.raises(DataFileError, match="NaN or inf") as err:
        load_binned([p])
    assert str(p) in str(err.value)
    m = tmp_path / "i_masked.fits"
    fits.HDUList([fits.PrimaryHDU(x), fits.ImageHDU(np.zeros((128, 160), np.int8))]).writeto(m)
    with pytest.raises(DataFileError, match="NaN or inf") as err:
        read_masked(m)
    assert str(m) in str(err.value)


def test_build_synthetic_stamp_written_before_files(tmp_path):
    """The stamp exists as soon as the first frame does, so an interrupted build is resumable."""
    import solarcnn.synthetic.base as base
    from solarcnn.cirrus.data import build_synthetic

    seen = []
    orig = base.SyntheticGenerator._write_one

    def spy(self, index, directory, overwrite=False):
        seen.append((tmp_path / "dataset.json").exists())
        return orig(self, index, directory, overwrite)

    base.SyntheticGenerator._write_one = spy
    try:
        build_synthetic(tmp_path, n_frames=2, sequence_length=2, masks=False)
    finally:
        base.SyntheticGenerator._write_one = orig
    assert seen == [True, True]


# =========================================================================================================
# DeepCAM: split, generate, loader, checkpoint
# =========================================================================================================
@pytest.fixture()
def cam_root(tmp_path):
    from solarcnn.synthetic import get

    get("cam5", seed=0, size=(16, 16)).write(tmp_path / "all", 10, progress=False)
    return tmp_path


@pytest.mark.parametrize("link", ["symlink", "copy"])
def test_split_into_own_parent_refused_originals_kept(cam_root, link):
    import shutil

    from solarcnn.deepcam.data import split_files

    train = cam_root / "train"
    shutil.copytree(cam_root / "all", train)                         # real files, as after a copy split
    before = tree_hash(cam_root)
    with pytest.raises(DataFileError, match="source") as err:
        split_files(train, cam_root, link=link)
    assert str(train) in str(err.value)
    assert tree_hash(cam_root) == before
    assert not any(p.is_symlink() for p in train.iterdir())


def test_split_output_equal_to_source_refused(cam_root):
    from solarcnn.deepcam.data import split_files

    before = tree_hash(cam_root)
    for part in ("train", "validation", "test"):
        (cam_root / "all" / part).symlink_to(cam_root / "all")       # a part folder that *is* the source
        with pytest.raises(DataFileError):
            split_files(cam_root / "all", cam_root / "all")
        (cam_root / "all" / part).unlink()
    assert tree_hash(cam_root) == before


def test_resplit_with_other_seed_leaves_no_file_in_two_parts(cam_root):
    from solarcnn.deepcam.data import split_files

    before = tree_hash(cam_root / "all")
    split_files(cam_root / "all", cam_root / "s", seed=1)
    parts = split_files(cam_root / "all", cam_root / "s", seed=2)
    on_disk = {k: sorted(p.name for p in (cam_root / "s" / k).iterdir()) for k in parts}
    assert on_disk == {k: sorted(p.name for p in v) for k, v in parts.items()}
    assert sum(len(v) for v in on_disk.values()) == 10
    assert not list((cam_root / "s").rglob(".part-*"))
    assert tree_hash(cam_root / "all") == before


def test_generate_other_seed_into_folder_refused(cam_root, capsys):
    from solarcnn.synthetic import get

    before = tree_hash(cam_root / "all")
    with pytest.raises(DataFileError, match="seed") as err:
        get("cam5", seed=1, size=(16, 16)).write(cam_root / "all", 2, progress=False)
    assert str(cam_root / "all") in str(err.value)
    with pytest.raises(DataFileError, match="size"):
        get("cam5", seed=0, size=(32, 32)).write(cam_root / "all", 2, progress=False)
    assert tree_hash(cam_root / "all") == before
    # the same through the CLI: never "wrote" while the files are still seed 0
    from solarcnn.deepcam.cli import _generate

    class A:
        directory, n, seed, start, size, jobs = str(cam_root / "all"), 2, 1, 0, (16, 16), 1
    with pytest.raises(DataFileError):
        _generate(A)
    assert "wrote" not in capsys.readouterr().out
    assert tree_hash(cam_root / "all") == before


def test_generate_same_settings_reuses_and_says_so(cam_root):
    from solarcnn.synthetic import get

    before = tree_hash(cam_root / "all")
    gen = get("cam5", seed=0, size=(16, 16))
    gen.write(cam_root / "all", 12, progress=False)
    assert len(gen.reused) == 10
    after = tree_hash(cam_root / "all")
    assert {k: v for k, v in after.items() if k in before} == before and len(after) == len(before) + 2


def test_generate_unstamped_files_are_rewritten_with_warning(tmp_path):
    from solarcnn.synthetic import get

    gen = get("cam5", seed=0, size=(16, 16))
    stale = tmp_path / gen.filename(0)
    stale.write_bytes(b"an old file of unknown settings")
    with pytest.warns(UserWarning, match="without a stamp"):
        gen.write(tmp_path, 1, progress=False)
    from solarcnn.deepcam.data import read_sample

    assert read_sample(stale)[0].shape == (16, 16, 16)


@pytest.mark.parametrize("n", [-1, 2.5, "3"])
def test_generate_bad_count(tmp_path, n):
    from solarcnn.synthetic import get

    with pytest.raises(ValueError, match="n must be"):
        get("cam5", size=(16, 16)).write(tmp_path / "x", n, progress=False)


def test_camdataset_empty_folder_names_folder_and_pattern(tmp_path):
    from solarcnn.deepcam.data import CamDataset

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "other.h5").write_bytes(b"")
    stats = {"minval": np.zeros(16), "maxval": np.ones(16)}
    with pytest.raises(DataFileError) as err:
        CamDataset(tmp_path / "empty", stats)
    assert str(tmp_path / "empty") in str(err.value) and "data*.h5" in str(err.value)
    with pytest.raises(ValueError, match="empty list"):
        CamDataset([], stats)


def write_cam(path, labels, data=None):
    import h5py

    with h5py.File(path, "w") as fh:
        fh["climate/data"] = np.ones((8, 8, 16), np.float32) if data is None else data
        fh["climate/labels_0"] = np.asarray(labels, np.float32)


@pytest.mark.parametrize("bad", [7.0, -1.0, 0.5, np.nan])
def test_camdataset_labels_reject_what_read_sample_rejects(tmp_path, bad):
    from solarcnn.deepcam.data import CamDataset, read_sample

    d = tmp_path / "d"
    d.mkdir()
    write_cam(d / "data-0.h5", np.zeros((8, 8)))
    lab = np.zeros((8, 8))
    lab[2, 3] = bad
    write_cam(d / "data-1.h5", lab)
    with pytest.raises(DataFileError) as err:
        read_sample(d / "data-1.h5")
    assert str(d / "data-1.h5") in str(err.value)
    ds = CamDataset(d, {"minval": np.zeros(16), "maxval": np.ones(16)}, batch_size=1, shuffle=False)
    with pytest.raises(DataFileError) as err:
        ds.labels()
    assert str(d / "data-1.h5") in str(err.value)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_read_sample_non_finite_fields(tmp_path, bad):
    from solarcnn.deepcam.data import read_sample

    x = np.ones((8, 8, 16), np.float32)
    x[1, 1, 4] = bad
    write_cam(tmp_path / "data-x.h5", np.zeros((8, 8)), x)
    with pytest.raises(DataFileError, match="NaN or inf") as err:
        read_sample(tmp_path / "data-x.h5")
    assert "data-x.h5" in str(err.value)


def tiny_model(units=3):
    import keras

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(units)])
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    m.train_on_batch(np.ones((2, 4), np.float32), np.ones((2, units), np.float32))
    return m


def snapshot(model):
    return [np.array(v.numpy()) for v in model.weights] + [np.array(v.numpy()) for v in model.optimizer.variables]


def test_checkpoint_of_other_model_restores_nothing(tmp_path):
    from solarcnn.deepcam.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path, tiny_model(3), {"epoch": 0, "batch": 1, "global_step": 1, "losses": [1.0]})
    other = tiny_model(5)          # same number of variables, the last ones of other shapes
    before = snapshot(other)
    files = tree_hash(tmp_path)
    with pytest.raises(DataFileError, match="shape") as err:
        load_checkpoint(tmp_path, other)
    assert "weights.npz" in str(err.value) and str(tmp_path) in str(err.value)
    for a, b in zip(before, snapshot(other)):            # all or nothing: not half-loaded
        np.testing.assert_array_equal(a, b)
    assert tree_hash(tmp_path) == files


@pytest.mark.parametrize("victim", ["weights", "optimizer", "state"])
def test_truncated_checkpoint_names_the_file(tmp_path, victim):
    from solarcnn.deepcam.checkpoint import load_checkpoint, save_checkpoint

    model = tiny_model()
    save_checkpoint(tmp_path, model, {"epoch": 0, "batch": 1, "global_step": 1, "losses": [1.0]})
    path = tmp_path / ("state.json" if victim == "state" else f"step00000001.{victim}.npz")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    before = snapshot(model)
    with pytest.raises(DataFileError) as err:
        load_checkpoint(tmp_path, model)
    assert str(path) in str(err.value)
    for a, b in zip(before, snapshot(model)):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_state_without_fields(tmp_path):
    from solarcnn.deepcam.checkpoint import load_checkpoint

    (tmp_path / "state.json").write_text(json.dumps({"epoch": 1}))
    with pytest.raises(DataFileError, match="tag"):
        load_checkpoint(tmp_path, tiny_model())


# =========================================================================================================
# Flare: labels outside the catalogue, NaN probabilities, image readers
# =========================================================================================================
def small_list():
    from solarcnn.flare.labels import FlareList

    start = np.array(["2011-03-05T02:00:00", "2011-03-08T05:00:00", "2011-03-10T09:00:00"], dtype="datetime64[s]")
    return FlareList(start, np.array(["C2.0", "M1.0", "X1.0"]), np.zeros(3), np.zeros(3), source="small.csv")


@pytest.mark.parametrize("t", ["2011-03-01T00:00:00", "2011-03-10T12:00:00", "2011-04-01T00:00:00"])
def test_label_times_outside_span_raise(t):
    from solarcnn.flare.labels import label_times

    with pytest.raises(ValueError, match="outside the span") as err:
        label_times([np.datetime64("2011-03-06T00:00:00"), np.datetime64(t)], small_list())
    assert "small.csv" in str(err.value)


def test_label_times_outside_mask_and_coverage():
    from solarcnn.flare.labels import label_times
    from solarcnn.metrics.forecast import tss

    times = np.array(["2011-03-01T00:00", "2011-03-07T06:00", "2011-03-20T00:00"], dtype="datetime64[s]")
    lab = label_times(times, small_list(), outside="mask")
    assert lab.covered.tolist() == [False, True, False]
    assert lab.target.tolist() == [-1, 1, -1]                    # never 0 ("no flare") outside
    with pytest.raises(ValueError, match="0/1"):
        tss(lab.target, np.zeros(3, int))                        # cannot pass as negatives
    lab = label_times(times, small_list(), coverage=("2011-02-01", "2011-04-01"))
    assert lab.target.tolist() == [0, 1, 0] and lab.covered.all()
    with pytest.raises(ValueError, match="outside must be"):
        label_times(times, small_list(), outside="ignore")


def test_label_times_inside_span_unchanged():
    from solarcnn.flare.labels import label_times

    lab = label_times(np.array(["2011-03-05T00:00", "2011-03-07T06:00"], dtype="datetime64[s]"), small_list())
    assert lab.target.tolist() == [0, 1] and lab.goes_class.tolist() == ["C2.0", "M1.0"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_probabilities_are_an_error(bad):
    from solarcnn.metrics.forecast import predict_labels, tss

    p = np.array([0.1, bad, 0.9])
    with pytest.raises(ValueError, match="NaN or inf"):
        predict_labels(p)
    with pytest.raises(ValueError):
        tss([0, 1, 1], p)


@pytest.mark.parametrize("threshold", [np.nan, 1.5, "0.5"])
def test_predict_labels_bad_threshold(threshold):
    from solarcnn.metrics.forecast import predict_labels

    with pytest.raises(ValueError, match="threshold"):
        predict_labels([0.2, 0.8], threshold)


def test_flare_image_readers_name_the_file(tmp_path):
    from solarcnn.flare.helioviewer import parse_closest_image
    from solarcnn.flare.images import read_hmi_magnetogram, read_jp2

    for name, content in (("empty.jp2", b""), ("junk.jp2", b"\x00\x01junk" * 50), ("junk.jpg", b"nope" * 50)):
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(DataFileError) as err:
            read_jp2(p)
        assert str(p) in str(err.value)
    with pytest.raises(DataFileError):
        read_jp2(tmp_path / "missing.jp2")
    nan = tmp_path / "nan.fits"
    hdu = fits.PrimaryHDU(np.full((16, 16), np.nan, np.float32))
    hdu.header["BUNIT"] = "Gauss"
    hdu.writeto(nan)
    with pytest.raises(DataFileError) as err:
        read_hmi_magnetogram(nan)
    assert str(nan) in str(err.value)
    inf = tmp_path / "inf.fits"
    data = np.ones((16, 16), np.float32)
    data[3, 3] = np.inf
    hdu = fits.PrimaryHDU(data)
    hdu.header["BUNIT"] = "Gauss"
    hdu.writeto(inf)
    with pytest.raises(DataFileError, match="inf") as err:
        read_hmi_magnetogram(inf)
    assert str(inf) in str(err.value)
    from solarcnn.flare.images import magnetogram_to_uint8

    with pytest.raises(ValueError, match="inf"):
        magnetogram_to_uint8(data, size=None)
    for payload in (b"", b"{}", b"[1, 2]", b'{"date": "yesterday"}'):
        with pytest.raises(DataFileError, match="getClosestImage"):
            parse_closest_image(payload, source_url="http://x/getClosestImage")


def test_flare_list_bad_files(tmp_path):
    from solarcnn.flare.labels import read_flare_list

    good = ("event_starttime,goes_class,hgs_lat,hgs_lon\n"
            "2011-03-05 02:00:00,M1.0,10,20\n")
    cases = {"empty.csv": "", "header.csv": good.splitlines()[0] + "\n",
             "badtime.csv": good.replace("2011-03-05 02:00:00", "soon"),
             "badclass.csv": good.replace("M1.0", "Q9"), "fields.csv": good.replace(",10,20", ",10"),
             "nocol.csv": good.replace("goes_class", "klass")}
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(DataFileError) as err:
            read_flare_list(p)
        assert str(p) in str(err.value), name


# =========================================================================================================
# Model builders: bad arguments are ValueErrors showing the received value
# =========================================================================================================
BUILDER_CASES = [
    ("build_deeplabv3plus", dict(input_shape=(32, 32, 16), num_middle_blocks=0, width_multiplier=0.125),
     [("num_classes", 2.5), ("num_classes", True), ("num_classes", "3"), ("num_middle_blocks", 1.5),
      ("width_multiplier", float("nan")), ("width_multiplier", "1"), ("input_shape", (32.5, 32, 16)),
      ("input_shape", (32, 32, None)), ("synchronized_bn", "no")]),
    ("build_slic", dict(input_shape=(32, 32, 1), width_multiplier=0.0625),
     [("num_classes", 2.5), ("input_shape", (32, 32, 1.5)), ("input_shape", (True, 32, 1)),
      ("dropout", float("nan")), ("dropout", "0.5"), ("width_multiplier", float("inf")), ("dense_units", 2.5),
      ("torch_init", "yes")]),
    ("build_cirrus_unet", dict(input_shape=(16, 16, 1), channels=(4, 8)),
     [("channels", (4, 8.5)), ("channels", (4, True)), ("dropout", float("nan")), ("dropout", "x"),
      ("input_shape", (16.5, 16, 1))]),
    ("build_double_conv_unet", dict(input_shape=(16, 16, 1), channels=(4, 8)),
     [("channels", (2.5,)), ("dropout", -0.1), ("input_shape", (16, 16))]),
    ("build_cirrus_classifier", dict(input_shape=(16, 16, 1), filters=(4,)),
     [("num_classes", 2.5), ("dense_units", 1.5), ("filters", (4.5,)), ("input_shape", (16, 16.5, 1))]),
    ("build_cloudsegnet", dict(input_shape=(12, 12, 3)),
     [("input_shape", (12.0, 12, 3)), ("input_shape", (12, 12)), ("pad_to_fit", "true")]),
    ("build_flare_model", dict(backbone="resnet34", input_shape=(32, 32, 1), width=0.125),
     [("num_classes", 2.5), ("fc_units", 8.5), ("dropout", float("nan")), ("dropout", "0.5"),
      ("input_shape", (32.5, 32, 1)), ("width", float("nan")), ("backbone", ["alexnet"])]),
]


@pytest.mark.parametrize("builder,base,cases", BUILDER_CASES, ids=[c[0] for c in BUILDER_CASES])
def test_builders_reject_bad_arguments_showing_the_value(builder, base, cases):
    import solarcnn.models as models

    build = getattr(models, builder)
    for name, value in cases:
        kwargs = {**base, name: value}
        with pytest.raises(ValueError) as err:
            build(**kwargs)
        assert repr(value) in str(err.value) or str(value) in str(err.value), (builder, name, value)


# =========================================================================================================
# More readers: DeepCAM samples and stats, CIRRUS loaders, generator output paths
# =========================================================================================================
@pytest.mark.parametrize("case", ["empty", "junk", "truncated", "no_labels", "rank2", "channels", "label_shape"])
def test_read_sample_bad_files(tmp_path, case):
    import h5py

    from solarcnn.deepcam.data import read_sample, sample_shape

    p = tmp_path / "data-bad.h5"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "junk":
        p.write_bytes(b"\x89HDF junk" * 100)
    elif case == "truncated":
        write_cam(p, np.zeros((8, 8)))
        p.write_bytes(p.read_bytes()[:1500])
    else:
        with h5py.File(p, "w") as fh:
            fh["climate/data"] = {"rank2": np.ones((8, 8), np.float32),
                                  "channels": np.ones((8, 8, 3), np.float32)}.get(case, np.ones((8, 8, 16), np.float32))
            if case != "no_labels":
                fh["climate/labels_0"] = np.zeros((4, 4) if case == "label_shape" else (8, 8), np.float32)
    before = tree_hash(tmp_path)
    with pytest.raises(DataFileError) as err:
        read_sample(p)
    assert str(p) in str(err.value)
    if case in ("empty", "junk", "rank2"):
        with pytest.raises(DataFileError):
            sample_shape(p)
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("case", ["missing_field", "shape", "max_le_min"])
def test_read_stats_bad_files(tmp_path, case):
    import h5py

    from solarcnn.deepcam.data import read_stats

    p = tmp_path / "stats.h5"
    with h5py.File(p, "w") as fh:
        fh["climate/count"] = np.int64(3)
        for f in ("mean", "sqmean", "minval", "maxval"):
            if case == "missing_field" and f == "sqmean":
                continue
            n = 8 if case == "shape" and f == "mean" else 16
            fh[f"climate/{f}"] = np.zeros(n, np.float32) if f != "maxval" or case == "max_le_min" \
                else np.ones(n, np.float32)
    with pytest.raises(DataFileError) as err:
        read_stats(p)
    assert str(p) in str(err.value)


def test_camdataset_mixed_shapes_name_the_file(tmp_path):
    from solarcnn.deepcam.data import CamDataset

    write_cam(tmp_path / "data-0.h5", np.zeros((8, 8)))
    write_cam(tmp_path / "data-1.h5", np.zeros((4, 4)), np.ones((4, 4, 16), np.float32))
    ds = CamDataset(tmp_path, {"minval": np.zeros(16), "maxval": np.ones(16)}, batch_size=2, shuffle=False,
                    read_threads=1)
    with pytest.raises(DataFileError) as err:
        ds[0]
    assert "data-1.h5" in str(err.value)


def test_cirrus_load_binned_shape_mismatch_and_bad_label(tmp_path):
    from solarcnn.cirrus.data import load_binned

    a = write_fits(tmp_path / "a_binned.fits", cirrus_frame(0), SKYCOND="CLEAR")
    b = write_fits(tmp_path / "b_binned.fits", cirrus_frame(1, (64, 80)), SKYCOND="CLOUDY")
    c = write_fits(tmp_path / "c_binned.fits", cirrus_frame(2), SKYCOND="FOGGY")
    with pytest.raises(DataFileError, match="shape") as err:
        load_binned([a, b])
    assert str(b) in str(err.value)
    with pytest.raises(DataFileError, match="SKYCOND") as err:
        load_binned([a, c])
    assert str(c) in str(err.value)


def test_generator_output_path_is_a_file(tmp_path):
    from solarcnn.synthetic import get

    f = tmp_path / "afile"
    f.write_text("keep me")
    with pytest.raises(DataFileError, match="not a folder"):
        get("cam5", size=(16, 16)).write(f, 1, progress=False)
    assert f.read_text() == "keep me"


def test_slic_constant_and_zero_frames_are_skipped_with_reason(tmp_path):
    from solarcnn.slic.prep import prepare_directory

    src = slic_tree(tmp_path / "src", n=1)
    const = write_fits(src / "quiet" / "const.fits", np.full((32, 32), 7.0))
    zero = frame(3)
    zero[0, 0] = 0
    zero = write_fits(src / "quiet" / "zero.fits", zero)
    rep = prepare_directory(src, tmp_path / "out", size=16, progress=False)
    assert "blank" in rep.skipped[str(const)] and "zero" in rep.skipped[str(zero)]


def test_flare_model_wrong_channels():
    from solarcnn.models import build_flare_model

    with pytest.raises(ValueError, match=r"\(32, 32, 3\)"):
        build_flare_model("resnet34", input_shape=(32, 32, 3), width=0.125)


@pytest.mark.parametrize("where", ["logits", "labels"])
def test_deepcam_iou_rejects_non_finite(where):
    from solarcnn.metrics.deepcam import deepcam_iou

    y = np.zeros((1, 4, 4), np.float32)
    logits = np.zeros((1, 4, 4, 3), np.float32)
    (logits if where == "logits" else y)[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        deepcam_iou(y, logits)


def test_cirrus_colliding_outputs_refused(tmp_path):
    from solarcnn.cirrus.masks import generate_masks
    from solarcnn.cirrus.rebin import rebin_files

    a = write_fits(tmp_path / "src" / "a_flux.fits", cirrus_frame(0, (256, 320)))
    agz = write_fits(tmp_path / "src" / "a_flux.fits.gz", cirrus_frame(1, (256, 320)))
    b = write_fits(tmp_path / "src" / "a_binned.fits", cirrus_frame(2))
    before = tree_hash(tmp_path)
    with pytest.raises(DataFileError, match="same output") as err:
        rebin_files([a, agz], tmp_path / "out", progress=False)
    assert str(agz) in str(err.value) and str(a) in str(err.value)
    with pytest.raises(DataFileError, match="same output"):
        generate_masks([a, b], tmp_path / "m", progress=False)        # both would be a_masked.fits
    with pytest.raises(DataFileError, match="same output"):
        rebin_files([a, a], tmp_path / "out", progress=False)
    assert tree_hash(tmp_path) == before


def test_label_times_unsorted_list_same_as_sorted():
    from solarcnn.flare.labels import FlareList, label_times

    f = small_list()
    rev = FlareList(f.start[::-1].copy(), f.goes_class[::-1].copy(), f.lat[::-1].copy(), f.lon[::-1].copy())
    times = np.arange(np.datetime64("2011-03-05T00:00:00"), np.datetime64("2011-03-09T12:00:00"),
                      np.timedelta64(6, "h"))
    a, b = label_times(times, f), label_times(times, rev)
    assert a.target.tolist() == b.target.tolist() and a.goes_class.tolist() == b.goes_class.tolist()
    assert a.target.sum() > 0
    bad = FlareList(f.start, f.goes_class[:2], f.lat, f.lon)
    with pytest.raises(ValueError, match="differ in length"):
        label_times(times, bad)


def test_deepcam_channels_and_stats_checked(tmp_path):
    from solarcnn.deepcam.data import CamDataset, read_sample

    write_cam(tmp_path / "data-0.h5", np.zeros((8, 8)), np.arange(8 * 8 * 16, dtype=np.float32).reshape(8, 8, 16))
    for bad in ([20], [-1], [1.5], [], "3"):
        with pytest.raises(ValueError, match="channels"):
            read_sample(tmp_path / "data-0.h5", bad)
    x, _ = read_sample(tmp_path / "data-0.h5", [3, 1, 3])            # any order, as NumPy indexing
    full, _ = read_sample(tmp_path / "data-0.h5")
    np.testing.assert_array_equal(x, full[..., [3, 1, 3]])
    good = {"minval": np.zeros(16), "maxval": np.ones(16)}
    for stats in ({"minval": np.zeros(16), "maxval": np.zeros(16)},          # scale would be inf
                  {"minval": np.zeros(16), "maxval": np.full(16, np.nan)}, {"maxval": np.ones(16)}):
        with pytest.raises(ValueError, match="stats"):
            CamDataset(tmp_path, stats, batch_size=1)
    with pytest.raises(ValueError, match="channels"):
        CamDataset(tmp_path, good, batch_size=1, channels=[1.5])


def test_slic_output_inside_source_refused(tmp_path):
    from solarcnn.slic.prep import prepare_directory

    src = slic_tree(tmp_path / "src", n=1)
    before = tree_hash(src)
    for dst in (src, src / "prepared", src / "quiet" / "out"):
        with pytest.raises(DataFileError, match="inside the source"):
            prepare_directory(src, dst, size=16, progress=False)
    assert tree_hash(src) == before


def test_derived_set_built_with_other_options_is_not_served(tmp_path, monkeypatch):
    import yaml

    from solarcnn.data import registry

    manifests = tmp_path / "manifests"
    manifests.mkdir()
    monkeypatch.setenv("SOLARCNN_MANIFESTS", str(manifests))
    monkeypatch.setenv("SOLARCNN_CACHE", str(tmp_path / "cache"))
    doc = {"name": "synthetic_toy", "description": "d", "citation": "c", "licence": "MIT",
           "derived": {"generator": "sunspot_disk", "options": {"seed": 1, "n": 2, "size": 32},
                       "command": "solarcnn data build synthetic_toy", "description": "two tiny disks."}}
    (manifests / "synthetic_toy.yaml").write_text(yaml.safe_dump(doc))
    root = registry.fetch("synthetic_toy", build=True)
    before = tree_hash(root)
    doc["derived"]["options"]["seed"] = 2                       # the manifest changes: the cache is stale
    (manifests / "synthetic_toy.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(DataFileError, match="other options") as err:
        registry.fetch("synthetic_toy", build=False)
    assert str(root) in str(err.value)
    with pytest.raises(DataFileError, match="seed") as err:      # rebuilding refuses the seed-1 folder
        registry.fetch("synthetic_toy")
    assert tree_hash(root) == before
    doc["derived"]["options"].update(seed=1, n=3)                # more samples, same settings: completed
    (manifests / "synthetic_toy.yaml").write_text(yaml.safe_dump(doc))
    assert len(list(registry.fetch("synthetic_toy").glob("*.fits"))) == 3


def test_wsiseg_png_readers_name_the_file(tmp_path):
    from PIL import Image

    from solarcnn.cirrus.wsiseg import _read_png, encode_annotation

    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(good)
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[:200])
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png" * 20)
    for p, mode in ((trunc, "RGB"), (junk, "RGB"), (good, "L"), (tmp_path / "none.png", "RGB")):
        with pytest.raises(DataFileError) as err:
            _read_png(p, mode)
        assert str(p) in str(err.value)
    with pytest.raises(DataFileError, match="besides 0, 100 and 255") as err:
        encode_annotation(np.array([[0, 100], [254, 255]]), "ann.png")
    assert "ann.png" in str(err.value)


def test_split_never_replaces_a_foreign_file(cam_root):
    from solarcnn.deepcam.data import split_files

    parts = split_files(cam_root / "all", cam_root / "s", link="copy")
    split_files(cam_root / "all", cam_root / "s", link="copy")            # its own copies: replaced fine
    victim = cam_root / "s" / "train" / parts["train"][0].name
    victim.write_bytes(b"the user's own work under that name")
    before = tree_hash(cam_root)
    for link in ("copy", "symlink"):
        with pytest.raises(DataFileError, match="neither a link nor a copy") as err:
            split_files(cam_root / "all", cam_root / "s", link=link, seed=7)
        assert str(victim) in str(err.value)
    assert tree_hash(cam_root) == before
