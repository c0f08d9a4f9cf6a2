"""Every exercise check (`solarcnn.exercises.check`) passes on a right answer and fails on a wrong one.

The right answers are built here cheaply, the way each notebook's solution cell builds them, but on small
inputs (tiny Keras models, a few arrays, a few real files through the data registry) and without training.
The notebooks themselves run every check against its solution under nbval (conftest.py sets
``SOLARCNN_EXERCISES_STRICT=1``, so a failing check fails the notebook).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import solarcnn
from solarcnn.course import exercises as ex

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv(ex.STRICT_VAR, raising=False)


def _tiny_classifier(shape, n_out, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape)
    out = keras.layers.Dense(n_out)(keras.layers.Flatten()(inp))
    return keras.Model(inp, out)


def _argmax_acc(model, x, y):
    return float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))


@pytest.fixture(scope="module")
def sot_files():
    from solarcnn.data import fetch

    return sorted(fetch("hinode_sot").glob("FG*.fits.gz"))


# --- one builder per exercise: (right answer, wrong answer) -------------------------------------------------

def case_00_1(tmp_path, request):
    rng = np.random.default_rng(0)
    frames = [1000 + rng.normal(0, 10 + 5 * k, (160, 160)) for k in range(9)]
    right = [f[20:140, 20:140].std() / f[20:140, 20:140].mean() for f in frames]
    wrong = [f[20:140, 20:140].std() for f in frames]
    return dict(contrast=right, frames=frames), dict(contrast=wrong, frames=frames)


def case_00_2(tmp_path, request):
    from astropy.wcs import WCS
    from scipy.ndimage import median_filter

    from solarcnn import synthetic
    from solarcnn.io import read_fits

    gen = synthetic.get("sunspot_disk", seed=3)
    files = gen.write(tmp_path / "syn", 6, progress=False)
    syn, hdr = max((read_fits(f) for f in files), key=lambda pair: pair[1]["NSPOTS"])
    assert hdr["NSPOTS"] >= 1
    filled = np.nan_to_num(syn, nan=np.nanmedian(syn))
    contrast = np.where(np.isnan(syn), np.inf, syn / median_filter(filled, size=15))
    iy, ix = np.unravel_index(np.argmin(contrast), syn.shape)
    sky = WCS(hdr).pixel_to_world_values(ix, iy)             # degrees
    right = tuple(((float(v) + 180) % 360 - 180) * 3600 for v in sky)
    wrong = (float(sky[0]), float(sky[1]))                   # degrees handed in as arcsec
    return dict(solar_xy=right, image=syn, header=hdr), dict(solar_xy=wrong, image=syn, header=hdr)


def case_00_3(tmp_path, request):
    from solarcnn.data import fetch
    from solarcnn.io import read_fits

    real, h = read_fits(fetch("solar_images", "resampled_hmi.fits"))
    n = real.shape[0]
    yy, xx = np.mgrid[0:n, 0:n]
    r = np.hypot(xx - (n - 1) / 2, yy - (n - 1) / 2) * h["CDELT1"] / h["RSUN_OBS"]
    edges = np.linspace(0, 1, 21)                       # 20 bins: not the check's own 30
    idx = np.digitize(r, edges) - 1
    prof = np.array([np.nanmedian(real[idx == i]) for i in range(20)])
    r_mid = 0.5 * (edges[1:] + edges[:-1])
    prof = prof / prof[0]
    mu = np.sqrt(1 - r_mid ** 2)
    good = np.isfinite(prof) & (r_mid < 0.95)
    b_fit, a_fit, _ = np.polyfit(1 - mu[good], prof[good], 2)
    return (dict(a=-a_fit, b=-b_fit, image=real, header=h),
            dict(a=0.45, b=0.22, image=real, header=h))         # the generator's values, not the fit


def case_01_1(tmp_path, request):
    from solarcnn.io import read_fits
    from solarcnn.slic import prep

    files = request.getfixturevalue("sot_files")
    core = next(f for f in files if read_fits(f)[1]["WAVEOFF"] == 0)
    wing = next(f for f in files if read_fits(f)[1]["WAVEOFF"] == -160)
    right = dict(core_scaled=prep.bytescale(read_fits(core)[0]), wing_scaled=prep.bytescale(read_fits(wing)[0]),
                 files=files)
    wrong = dict(core_scaled=read_fits(core)[0], wing_scaled=read_fits(wing)[0], files=files)
    return right, wrong


def _slic_data(leaky: bool, n=40, size=8):
    from solarcnn.slic.prep import SlicData

    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(n // 4), 4)
    val = (np.arange(n) % 5 == 0) if leaky else np.isin(groups, [0, 5])
    x = rng.random((n, size, size, 1)).astype("float32")
    y = rng.integers(0, 5, n)
    return SlicData(x[~val], y[~val], x[val], y[val], ["a", "b", "c", "d", "e"], [], [], groups[~val], groups[val])


def case_01_2(tmp_path, request):
    from solarcnn.slic import prep

    leaky, grouped = _slic_data(True), _slic_data(False)
    return dict(split5=leaky, leak5=prep.leakage(leaky)), dict(split5=grouped, leak5=prep.leakage(grouped))


def case_02_1(tmp_path, request):
    from solarcnn.slic.classify import classify

    files = request.getfixturevalue("sot_files")[:3]
    import keras

    keras.utils.set_random_seed(0)       # a mean-brightness classifier: raw counts and 0-255 inputs differ
    inp = keras.Input((16, 16, 1))
    out = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1e-3)(inp)))
    model = keras.Model(inp, out)
    path = tmp_path / "tiny_slic.keras"
    model.save(path)
    return (dict(orig=classify(files, path, preprocessing="original"), files=files, model=path),
            dict(orig=classify(files, path), files=files, model=path))


def case_02_2(tmp_path, request):
    leaky, grouped = _slic_data(True), _slic_data(False)
    model = _tiny_classifier(leaky.x_val.shape[1:], 5)
    return (dict(val_accuracy=_argmax_acc(model, leaky.x_val, leaky.y_val), model=model, data=leaky),
            dict(val_accuracy=_argmax_acc(model, grouped.x_val, grouped.y_val), model=model, data=grouped))


def _cirrus_frames(buggy: bool, n=24):
    rng = np.random.default_rng(2)
    y = np.arange(n) % 2
    x = rng.random((n, 8, 10, 1)).astype("float32")
    if buggy:
        x[y == 0] = x[y == 0] * 1000 + 5          # clear frames left in counts: max >= 2
    return x, y


def case_03_1(tmp_path, request):
    xb, y = _cirrus_frames(True)
    xo, _ = _cirrus_frames(False)
    model = _tiny_classifier(xb.shape[1:], 2)
    acc = _argmax_acc(model, xb, y)
    return (dict(accuracy=acc, model=model, x_test=xb, y_test=y),
            dict(accuracy=_argmax_acc(model, xo, y), model=model, x_test=xo, y_test=y))


def case_03_2(tmp_path, request):
    x, y = _cirrus_frames(False, n=40)
    groups = np.repeat(np.arange(10), 4)
    perm = np.random.default_rng(42).permutation(40)
    tr, te = perm[:28], perm[28:]
    seq_tr, seq_te = np.flatnonzero(groups < 7), np.flatnonzero(groups >= 7)     # a sequence split
    model = _tiny_classifier(x.shape[1:], 2)
    common = dict(model=model, x=x, y=y, groups=groups)
    return (dict(accuracy=_argmax_acc(model, x[te], y[te]), train_idx=tr, test_idx=te, **common),
            dict(accuracy=_argmax_acc(model, x[seq_te], y[seq_te]), train_idx=seq_tr, test_idx=seq_te, **common))


def case_03_3(tmp_path, request):
    from astropy.io import fits

    files = []
    for i in range(8):
        f = tmp_path / f"frame_{i}.fits"
        hdu = fits.PrimaryHDU(np.zeros((2, 2), dtype="float32"))
        hdu.header["DAYNIGHT"] = "DAY" if i < 3 else "NIGHT"
        hdu.writeto(f)
        files.append(f)
    y_true = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    y_pred = np.array([0, 1, 0, 0, 1, 1, 1, 1])
    right = {"DAY": 2 / 3, "NIGHT": 4 / 5}
    overall = float(np.mean(y_true == y_pred))
    common = dict(y_true=y_true, y_pred=y_pred, files=files)
    return dict(accuracy=right, **common), dict(accuracy={"DAY": overall, "NIGHT": overall}, **common)


def _masks(n=6, h=12, w=14, seed=4):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, h, w)) < np.linspace(0.05, 0.6, n)[:, None, None]).astype("float32")
    prob = np.clip(y * 0.3 + rng.random((n, h, w)) * 0.6, 0, 1)
    valid = np.ones((h, w), bool)
    valid[:2] = False
    return y, prob, valid


def case_04_1(tmp_path, request):
    from solarcnn.metrics import iou

    y, prob, valid = _masks()
    per = iou(y, prob, valid=valid[None], per_image=True)
    common = dict(y_true=y, prob=prob, valid=valid)
    return (dict(per_image_mean=float(np.nanmean(per)), **common),
            dict(per_image_mean=float(iou(y, prob, valid=valid[None])), **common))


def case_04_2(tmp_path, request):
    import keras

    from solarcnn.metrics import iou

    y, _, valid = _masks()
    x = np.random.default_rng(5).random(y.shape + (1,)).astype("float32")
    keras.utils.set_random_seed(0)
    inp = keras.Input(x.shape[1:])
    model = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inp))
    p = model.predict(x, verbose=0)[..., 0]
    common = dict(model=model, x=x, y=y, valid=valid)
    return (dict(test_iou=float(iou(y, p, valid=valid[None])), **common),
            dict(test_iou=float(iou(y, p)), **common))


def case_04_3(tmp_path, request):
    from solarcnn.metrics import iou

    rng = np.random.default_rng(6)
    labels = (rng.random((4, 10, 10)) < 0.4).astype("float32")
    prob = np.where(labels == 1, rng.uniform(0.36, 0.9, labels.shape), rng.uniform(0.0, 0.34, labels.shape))
    labels[:, 0, :] = -1                                 # ignored pixels (WSISEG's IGNORE)
    prob[:, 0, :] = 0.99
    valid = labels != -1
    grid = np.round(np.arange(0.3, 0.71, 0.05), 2)
    best = max(grid, key=lambda t: iou(np.where(valid, labels, 0), prob, valid=valid, threshold=t))
    return dict(threshold=best, prob=prob, labels=labels), dict(threshold=0.6, prob=prob, labels=labels)


def _cam(seed=7):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=(4, 8, 12), p=[0.7, 0.1, 0.2])
    y[0][y[0] == 1] = 0                                  # a sample without a cyclone (absent-class rule)
    logits = rng.normal(size=(4, 8, 12, 3)).astype("float32")
    logits[..., 0] += 1.0
    return y, logits


def case_05_1(tmp_path, request):
    from solarcnn.metrics.deepcam import deepcam_iou

    y, logits = _cam()
    ps, po = deepcam_iou(y, logits), deepcam_iou(y, logits, per_sample=False)
    assert abs(ps - po) > 1e-4
    return (dict(per_sample=ps, pooled=po, y_true=y, logits=logits),
            dict(per_sample=po, pooled=ps, y_true=y, logits=logits))


def case_05_2(tmp_path, request):
    from solarcnn.deepcam.schedule import reference_schedule

    s = np.arange(5000)
    a, b = reference_schedule(512).lr_at(s), reference_schedule(512, faithful=False).lr_at(s)
    differs = np.nonzero(~np.isclose(a, b, rtol=1e-9, atol=0.0))[0]
    assert differs[0] == 99 and np.allclose((b - a)[differs] / b[differs], 0.01)   # warmup 100: a gap of 1/W
    # the old answer (stretches where the gap is "> 1 %", which float rounding decided) must not pass
    return dict(first_step=int(differs[0]), rel_gap=0.01), dict(first_step=2148, rel_gap=0.01)


def case_05_3(tmp_path, request):
    from scipy.ndimage import binary_dilation

    from solarcnn.metrics.deepcam import deepcam_iou_per_class

    y, logits = _cam()
    relaxed = y.copy()
    river = np.stack([binary_dilation(s == 2) for s in y])
    relaxed[river & (y == 0)] = 2
    common = dict(y_strict=y, logits=logits)
    right = dict(relaxed_iou=deepcam_iou_per_class(relaxed, logits).mean(axis=0), changed="atmospheric river",
                 y_relaxed=relaxed, **common)
    return right, {**right, "changed": "tropical cyclone"}


def case_06_1(tmp_path, request):
    tss = 3 / 4 - 2 / 6
    hss = 2 * (3 * 4 - 1 * 2) / ((3 + 1) * (1 + 4) + (3 + 2) * (2 + 4))
    return (dict(tss=tss, hss=hss, tss_never=0.0, hss_never=0.0),
            dict(tss=3 / 4 - 4 / 6, hss=hss, tss_never=0.0, hss_never=0.0))


def case_06_2(tmp_path, request):
    return dict(counts=[False, True, False]), dict(counts=[True, True, False])


def case_06_3(tmp_path, request):
    return (dict(kept_string="X2.0", kept_flux="X10.0", label_changes=False),
            dict(kept_string="X10.0", kept_flux="X2.0", label_changes=False))


def _study(sampler="tpe", pruner="none", n=3, prune_at=()):
    from solarcnn.cirrus import search

    s = search.make_study(seed=0, sampler=sampler, pruner=pruner, n_startup_trials=2, max_epochs=3)

    def objective(trial):
        import optuna

        v = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.set_user_attr("seconds", 0.5 + trial.number)
        if trial.number in prune_at:
            raise optuna.TrialPruned()
        return v

    s.optimize(objective, n_trials=n)
    return s


def case_07_1(tmp_path, request):
    r, t = _study("random"), _study("tpe")
    return dict(random_study=r, tpe_study=t), dict(random_study=t, tpe_study=r)


def case_07_2(tmp_path, request):
    hb = _study(pruner="hyperband", prune_at=(1, 2))
    return dict(study=hb, pruned_seconds=1.5 + 2.5), dict(study=hb, pruned_seconds=0.5 + 1.5 + 2.5)


def case_07_3(tmp_path, request):
    from solarcnn.cirrus import search

    space = search.SearchSpace([search.Param("lr", "log_float", low=1e-4, high=1e-1),
                                search.Param("batch_size", "categorical", choices=(8, 16))])
    s = search.make_study(seed=0, pruner="none")
    s.optimize(lambda trial: float(space.suggest(trial)["batch_size"]), n_trials=2)
    plain = search.SearchSpace([search.Param("lr", "log_float", low=1e-4, high=1e-1)])
    return dict(space=space, study=s), dict(space=plain, study=s)


CASES = {name[5:].replace("_", "."): func for name, func in globals().items() if name.startswith("case_")}


def test_every_exercise_has_a_case():
    assert sorted(CASES) == ex.list_exercises()


@pytest.mark.parametrize("exercise_id", sorted(CASES))
def test_check_passes_right_and_fails_wrong(exercise_id, tmp_path, request, capsys):
    right, wrong = CASES[exercise_id](tmp_path, request)
    assert ex.check(exercise_id, **right) is True, capsys.readouterr().out
    ok_msg = capsys.readouterr().out
    assert ok_msg.startswith(f"Exercise {exercise_id}: right."), ok_msg
    assert ex.check(exercise_id, **wrong) is False
    bad_msg = capsys.readouterr().out
    assert bad_msg.startswith(f"Exercise {exercise_id}: not yet."), bad_msg
    assert "could not use your answer" not in bad_msg, f"the wrong answer crashed the check: {bad_msg}"
    assert len(re.findall(r"[.!?](\s|$)", bad_msg.split(": not yet.", 1)[1])) <= 2, "one or two sentences"


@pytest.mark.parametrize("exercise_id", ex.list_exercises())
def test_unanswered_stub_prints_what_is_missing(exercise_id, capsys):
    spec = ex.EXERCISES[exercise_id]
    stub = {name: None for name in {**spec.answers, **spec.inputs}}
    assert ex.check(exercise_id, **stub) is False
    out = capsys.readouterr().out
    assert "Not answered yet" in out and all(f"`{n}`" in out for n in spec.answers)


def test_strict_mode_raises_and_lenient_mode_never_raises(monkeypatch, capsys):
    assert ex.check("06.2", counts="nonsense") is False        # a broken answer: a sentence, not a traceback
    assert ex.check("99.9", x=1) is False
    monkeypatch.setenv(ex.STRICT_VAR, "1")
    with pytest.raises(ex.ExerciseCheckFailed, match="06.2"):
        ex.check("06.2", counts=[True, True, True])
    assert ex.check("06.2", counts=[False, True, False]) is True


def test_package_attribute_and_positional_answers(capsys):
    assert solarcnn.exercises.check is ex.check
    assert solarcnn.exercises.check("06.2", [False, True, False]) is True          # check("NN.k", answer)
    assert ex.check("06.3", "X2.0", "X10.0", label_changes=False) is True
    assert ex.check("06.2", [False, True, False], [True]) is False                 # one answer too many
    assert ex.check("06.2", [False, True, False], counts=[False, True, False]) is False   # given twice
    assert "in this order" in capsys.readouterr().out


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_solution_is_followed_by_its_check(path):
    """Solutions and check cells alternate; every registered exercise of the notebook is checked once."""
    cells = _cells(path)
    ids = []
    for i, c in enumerate(cells):
        tags = c.get("metadata", {}).get("tags", [])
        if "solution" in tags:
            nxt = cells[i + 1]
            assert "exercise-check" in nxt.get("metadata", {}).get("tags", []), f"cell {i}: solution without check"
        if "exercise-check" in tags:
            m = re.search(r'solarcnn\.exercises\.check\("(\d\d\.\d+)"', _src(c))
            assert m and m.group(1).startswith(path.name[:2]), f"cell {i}: a check cell calls check('NN.k', ...)"
            ids.append(m.group(1))
    want = [e for e in ex.list_exercises() if e.startswith(path.name[:2] + ".")]
    assert ids == want, f"checks in the notebook {ids}, registered {want}"
