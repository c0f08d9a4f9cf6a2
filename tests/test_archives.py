"""The real-data readers (issue 14 item 2): fixture folders in each original project's layout, built from the
generators and the real files of the data registry, pass their reader; wrong layouts give one clear
`DataLayoutError` naming the folder and the problem."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from solarcnn.errors import DataFileError, DataLayoutError


def real(dataset, relpath=None):
    """A real file (or folder) through the data registry; a registry error fails the test."""
    from solarcnn.data import fetch

    return Path(fetch(dataset, relpath))


def layout_error(call, folder, *words):
    """Run `call`, expect a DataLayoutError whose message names `folder` and every one of `words`."""
    with pytest.raises(DataLayoutError) as err:
        call()
    msg = str(err.value)
    assert str(Path(folder).resolve()) in msg or str(folder) in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in: {msg}"
    return msg


# ------------------------------------------------------------------------------------------------ Slic
@pytest.fixture(scope="module")
def slic_folder(tmp_path_factory):
    """Four synthetic classes (sot generator, 64 px) and the 18 real Hinode/SOT frames as 'sunspots'."""
    from solarcnn.synthetic import get

    root = tmp_path_factory.mktemp("slic") / "DATA"
    get("sot", seed=1, frames_per_sequence=2, size=64).write(root, 10, progress=False)   # 5 classes x 2 frames
    shutil.rmtree(root / "sunspots")
    (root / "sunspots").mkdir()
    for f in sorted(real("hinode_sot").glob("*.fits.gz"))[:6]:
        shutil.copy(f, root / "sunspots" / f.name)
    (root / ".sot.synthetic.json").unlink(missing_ok=True)
    return root


def test_slic_class_folders(slic_folder, tmp_path):
    from solarcnn.slic.archive import PAPER_CLASSES, open_archive

    arch = open_archive(slic_folder)
    assert arch.kind == "folders" and arch.classes == list(PAPER_CLASSES)
    assert arch.counts == {"filaments": 2, "flares": 2, "prominences": 2, "quiet": 2, "sunspots": 6}
    assert arch.source == str(slic_folder.resolve()) and len(arch.files) == 14
    assert "4 sunspots (6)" in arch.describe() and "the paper's five classes" in arch.describe()
    data = arch.load(tmp_path / "work", size=64, split="faithful", percent_split=2)
    assert data.x_train.shape[1:] == (64, 64, 1) and data.x_train.max() <= 255
    assert sorted(set(data.y_train.tolist()) | set(data.y_val.tolist())) == [0, 1, 2, 3, 4]
    assert len(data.y_train) + len(data.y_val) == 14
    assert not list((slic_folder).rglob("*.npz"))            # the user's folder is only read


def test_slic_npz(tmp_path):
    from solarcnn.slic.archive import open_archive
    from solarcnn.slic.prep import save_npz

    rng = np.random.default_rng(0)
    save_npz(tmp_path / "solar_train_data.npz", rng.integers(0, 256, (5, 256, 256)), [0, 1, 2, 3, 4])
    save_npz(tmp_path / "solar_test_data.npz", rng.integers(0, 256, (2, 256, 256)), [4, 0])
    arch = open_archive(tmp_path)
    assert arch.kind == "npz" and arch.counts == {"solar_train_data.npz": 5, "solar_test_data.npz": 2}
    d = arch.load()
    assert d.x_train.shape == (5, 256, 256, 1) and d.y_val.tolist() == [4, 0]
    with pytest.raises(DataLayoutError, match="cannot be resized"):
        arch.load(size=128)


def test_slic_wrong_layouts(tmp_path, slic_folder):
    from solarcnn.slic.archive import open_archive
    from solarcnn.slic.prep import save_npz

    layout_error(lambda: open_archive(tmp_path / "nope"), tmp_path / "nope", "folder not found", "no public bulk")
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in sorted((slic_folder / "sunspots").iterdir())[:2]:
        shutil.copy(f, flat / f.name)
    layout_error(lambda: open_archive(flat), flat, "FITS file(s) directly", "no class folders", "filaments/")
    one = tmp_path / "one"
    one.mkdir()
    save_npz(one / "solar_train_data.npz", np.zeros((1, 256, 256)), [0])
    layout_error(lambda: open_archive(one), one, "solar_train_data.npz but not solar_test_data.npz")
    save_npz(one / "solar_test_data.npz", np.zeros((1, 256, 256)), [7])
    layout_error(lambda: open_archive(one), one, "labels [7]")
    empty = tmp_path / "emptyclass"
    shutil.copytree(slic_folder, empty)
    shutil.rmtree(empty / "quiet")
    (empty / "quiet").mkdir()
    layout_error(lambda: open_archive(empty), empty, "quiet/", "hold no FITS file")
    broken = tmp_path / "broken"
    shutil.copytree(slic_folder, broken)
    first = sorted((broken / "filaments").iterdir())[0]
    first.write_bytes(b"not a fits file")
    layout_error(lambda: open_archive(broken), broken, first.name, "not a readable 2-D FITS image")


# ------------------------------------------------------------------------------------------------ CIRRUS
@pytest.fixture(scope="module")
def cirrus_frames(tmp_path_factory):
    from solarcnn.synthetic import get

    raw = tmp_path_factory.mktemp("cirrus") / "raw"
    gen = get("allsky_ir", seed=3, sequence_length=2)
    paths = gen.write(raw, 8, progress=False)
    return [(p, gen.label_for(i)) for i, p in enumerate(paths)]


def test_cirrus_classification(cirrus_frames, tmp_path):
    from solarcnn.cirrus.archive import open_archive

    root = tmp_path / "DATA"
    for p, label in cirrus_frames:
        (root / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, root / label / p.name)
    arch = open_archive(root, check="all")
    assert arch.task == "classification" and len(arch.files) == 8 and arch.labels.count(1) == 4
    x, y, groups = arch.load_classification(tmp_path / "work")
    assert x.shape == (8, 128, 160, 1) and x.dtype == np.float32 and 0 < x.max() <= 1.0
    assert y.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] and len(set(groups.tolist())) == 4   # 4 two-frame sequences
    assert "clear 4, cloudy 4" in arch.describe()


def test_cirrus_segmentation(cirrus_frames, tmp_path):
    from solarcnn.cirrus.archive import open_archive

    root = tmp_path / "frames"
    root.mkdir()
    for p, label in cirrus_frames:
        if label == "cloudy":
            shutil.copy(p, root / p.name)
    arch = open_archive(root)
    assert arch.task == "segmentation" and len(arch.files) == 4
    x, y, _ = arch.load_segmentation(tmp_path / "work")
    assert x.shape == (4, 128, 160) and y.dtype == np.int8 and set(np.unique(y).tolist()) == {0, 1}
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p, lab in cirrus_frames if lab == "cloudy")


def test_cirrus_wrong_layouts(cirrus_frames, tmp_path):
    from solarcnn.cirrus.archive import open_archive
    from solarcnn.io.fits import write_image

    only = tmp_path / "onlyclear"
    (only / "clear").mkdir(parents=True)
    shutil.copy(cirrus_frames[0][0], only / "clear")
    layout_error(lambda: open_archive(only), only, "no cloudy/ folder", "no public bulk download")
    (only / "cloudy").mkdir()
    layout_error(lambda: open_archive(only), only / "cloudy", "holds no FITS frame")
    empty = tmp_path / "empty"
    empty.mkdir()
    layout_error(lambda: open_archive(empty), empty, "holds no FITS frame", "512x640")
    small = tmp_path / "binned"
    small.mkdir()
    write_image(small / "x.fits", np.ones((128, 160), np.int16) * 100, {})
    layout_error(lambda: open_archive(small), small, "x.fits has shape (128, 160)", "512x640")
    hot = tmp_path / "hot"
    hot.mkdir()
    write_image(hot / "y.fits", np.full((512, 640), 20000, np.int32), {})
    layout_error(lambda: open_archive(hot), hot, "y.fits", "14-bit range")


# ------------------------------------------------------------------------------------------------ DeepCAM
def _cam5(folder, n, size=(32, 48), seed=0, start=0):
    from solarcnn.synthetic import get

    paths = get("cam5", seed=seed, size=size).write(folder, n, start=start, progress=False)
    for stamp in Path(folder).glob(".*.synthetic.json"):
        stamp.unlink()
    return paths


def test_deepcam_unsplit_is_split_safely_and_summarised(tmp_path):
    from solarcnn.deepcam.archive import open_archive
    from solarcnn.deepcam.data import read_stats

    root = tmp_path / "All-Hist"
    files = _cam5(root, 10)
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.iterdir()}
    arch = open_archive(root, split_dir=tmp_path / "split")
    assert (len(arch.train), len(arch.validation), len(arch.test)) == (8, 1, 1)
    assert arch.split_by_package and arch.shape == (32, 48, 16) and arch.label_key == "climate/labels_0"
    assert arch.stats == tmp_path / "split" / "stats.h5" and read_stats(arch.stats)["count"] == 8
    assert {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.iterdir()} == before
    assert all(p.is_symlink() for p in arch.train)
    x, y = arch.dataset("train", batch_size=2, shuffle=False)[0]
    assert x.shape == (2, 32, 48, 16) and y.shape == (2, 32, 48)
    assert "the paper's are (768, 1152, 16)" in arch.describe() and "computed by summarize" in arch.describe()
    layout_error(lambda: open_archive(root, split_dir=root / "inside"), root / "inside", "inside the data folder")
    assert len(files) == 10


def test_deepcam_split_layout_with_stats_and_old_labels(tmp_path):
    import h5py

    from solarcnn.deepcam.archive import open_archive

    root = tmp_path / "climseg"
    _cam5(root / "train", 3)
    _cam5(root / "validation", 1, start=3)
    for f in list((root / "train").iterdir()) + list((root / "validation").iterdir()):
        with h5py.File(f, "a") as fh:                 # the older sets' single label dataset
            fh["climate/labels"] = fh["climate/labels_0"][()]
            del fh["climate/labels_0"]
    shutil.copy(real("deepcam_stats", "stats.h5"), root / "train" / "stats.h5")
    arch = open_archive(root)
    assert arch.stats == root / "train" / "stats.h5" and not arch.split_by_package
    assert arch.label_key == "climate/labels" and arch.test == []
    assert arch.dataset("validation", batch_size=1)[0][1].shape == (1, 32, 48)


def test_deepcam_wrong_layouts(tmp_path):
    import h5py

    from solarcnn.deepcam.archive import open_archive

    few = tmp_path / "few"
    _cam5(few, 3)
    layout_error(lambda: open_archive(few, split_dir=tmp_path / "s1"), few, "holds 3 data*.h5", "at least 10")
    nosplit = tmp_path / "onlytrain"
    _cam5(nosplit / "train", 2)
    layout_error(lambda: open_archive(nosplit), nosplit, "no validation/")
    empty = tmp_path / "empty"
    (empty / "other").mkdir(parents=True)
    layout_error(lambda: open_archive(empty), empty, "holds no data*.h5 file", "other")
    mixed = tmp_path / "mixed"
    _cam5(mixed / "train", 2)
    _cam5(mixed / "validation", 1, size=(16, 32), start=5)
    layout_error(lambda: open_archive(mixed), mixed, "different shapes")
    bad = tmp_path / "bad"
    _cam5(bad / "train", 1)
    (bad / "validation").mkdir()
    with h5py.File(bad / "validation" / "data-2106-01-01-00-9.h5", "w") as fh:
        fh["climate/data"] = np.zeros((32, 48, 4), np.float32)
    layout_error(lambda: open_archive(bad), bad, "data-2106-01-01-00-9.h5", "expected (height, width, 16)")
    (bad / "validation" / "data-2106-01-01-00-9.h5").unlink()
    _cam5(bad / "validation", 1, start=4)
    (bad / "stats.h5").write_bytes(b"garbage")
    layout_error(lambda: open_archive(bad), bad, "stats.h5 is not a DeepCAM stats.h5")


# ------------------------------------------------------------------------------------------------ Flare
JP2 = "2023_01_31__03_39_23_200__SDO_HMI_HMI_continuum.jp2"


@pytest.fixture(scope="module")
def flare_folder(tmp_path_factory):
    """The real Helioviewer HMI JP2 under two hourly names and its 512 px JPEG conversion under two more."""
    from solarcnn.flare.images import read_jp2, save_jpeg
    from solarcnn.flare.labels import image_filename

    root = tmp_path_factory.mktemp("flare") / "DATA"
    src = real("helioviewer_jp2", JP2)
    times = ["2011-02-14T22:00:00", "2011-02-14T23:00:00", "2011-04-02T00:00:00", "2011-04-02T01:00:00"]
    for t in times[:2]:
        dest = root / image_filename(t, "jp2")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)
    img = read_jp2(src, size=512)
    for t in times[2:]:
        save_jpeg(root / image_filename(t, "jpg"), img)
    return root


def test_flare_layout_goes_labels(flare_folder):
    from solarcnn.flare.archive import open_archive

    arch = open_archive(flare_folder)
    assert arch.relpaths[0] == "2011/02/14/HMI.m2011.02.14_22.00.00.jp2" and len(arch.files) == 4
    flares = real("goes_flares", "final_flare_list_sc24.csv")
    y = arch.labels(flares)
    # 2011-02-15 01:44 X2.2 (AR 11158) lies within 24 h after both 14 Feb images; April 2 has no >= M flare
    assert y.tolist() == [1, 1, 0, 0]
    assert arch.fold_of().tolist() == [1, 1, 2, 2]
    images = arch.load_images()
    assert images.shape == (4, 512, 512) and images.dtype == np.uint8
    assert "2 JPEG, 2 JPEG 2000" in arch.describe() and "24-hour rule" in arch.describe()


def test_flare_fold_csvs(flare_folder, tmp_path):
    from solarcnn.flare.archive import open_archive

    labels = tmp_path / "data_labels"
    labels.mkdir()
    rels = open_archive(flare_folder).relpaths
    (labels / "Fold1_val.csv").write_text("label,goes_class\n" + f"{rels[0]},1\n{rels[1]},0\n")
    (labels / "Fold1_train.csv").write_text("label,goes_class\n" + f"{rels[2]},0\n{rels[3]},1\n")
    arch = open_archive(flare_folder, folds_dir=labels)
    assert arch.labels().tolist() == [1, 0, 0, 1] and arch.fold_of().tolist() == [1, 1, 0, 0]
    (labels / "Fold2_val.csv").write_text("label,goes_class\n2012/01/01/HMI.m2012.01.01_00.00.00.jpg,0\n")
    layout_error(lambda: open_archive(flare_folder, folds_dir=labels), flare_folder, "name 1 image(s)",
                 "HMI.m2012.01.01_00.00.00.jpg")
    (labels / "Fold2_val.csv").write_text("wrong,header\n")
    with pytest.raises(DataFileError, match="Fold2_val.csv: first line"):
        open_archive(flare_folder, folds_dir=labels)


def test_flare_wrong_layouts(flare_folder, tmp_path):
    from solarcnn.flare.archive import open_archive

    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(next(flare_folder.rglob("*.jpg")), flat / "magnetogram.jpg")
    layout_error(lambda: open_archive(flat), flat, "holds no magnetogram", "YYYY/MM/DD/HMI.m", "magnetogram.jpg")
    moved = tmp_path / "moved"
    shutil.copytree(flare_folder, moved)
    src = next(moved.rglob("*.jpg"))
    (moved / "2011/04/03").mkdir(parents=True)
    src.rename(moved / "2011/04/03" / src.name)
    layout_error(lambda: open_archive(moved), moved, "another day's folder", src.name)
    arch = open_archive(flare_folder)
    layout_error(lambda: arch.__class__.labels(arch), flare_folder, "no Fold*_{train,val}.csv", "goes_flares")


# ------------------------------------------------------------------------------------------------ CLI
def test_archive_command(slic_folder, capsys):
    from solarcnn.course.cli import main

    assert main(["archive", "check", "slic", str(slic_folder)]) == 0
    assert "classes (label order): 0 filaments (2)" in capsys.readouterr().out
    assert main(["archive", "check", "cirrus", str(slic_folder / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope: folder not found" in err and "no public bulk download" in err
    for track in ("slic", "cirrus"):
        assert main(["archive", "download", track, "x"]) == 2
        assert "no public bulk download" in capsys.readouterr().err
    assert main(["archive", "how", "cirrus"]) == 0
    assert "clear/ and cloudy/" in capsys.readouterr().out
    assert main(["archive", "download", "flare", "x"]) == 2
    assert "give --start and --end" in capsys.readouterr().err
