"""Exercises that check themselves: ``solarcnn.exercises.check("02.1", orig=orig, ...)``.

Every exercise of the notebooks (``## Exercises``; solution cells tagged ``solution``) ends with a check
cell (tagged ``exercise-check``) that hands the learner's answer to `check`. The check prints one or two
sentences — right, or what to look at — without giving the solution away, and returns True or False.

- The answer is passed by keyword: the names an exercise expects are in `EXERCISES` (``answers``: name ->
  what it holds). The student edition (`solarcnn.course.editions`) writes a stub for each of them
  (``name = None  # what it holds``); `check` with a missing (None) answer says what is still to do.
- Most checks recompute the reference from the inputs the learner used (the notebook's data, the trained
  model) with the package's own functions, so they hold for any profile and any seed.
- ``SOLARCNN_EXERCISES_STRICT=1`` (set by the test session, ``conftest.py``) makes a failing check raise
  `ExerciseCheckFailed`: CI runs every check against its solution. Otherwise a check never raises (a
  learner's wrong or broken answer gets a sentence, not a traceback).

Introduced in notebook 00 (the first exercise); every notebook uses it.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

STRICT_VAR = "SOLARCNN_EXERCISES_STRICT"


class ExerciseCheckFailed(AssertionError):
    """A check failed while ``SOLARCNN_EXERCISES_STRICT`` is set (the solution run in CI)."""


@dataclass
class Exercise:
    """One exercise: its id (``"NN.k"``), a title, the answer names and the function that verifies them."""

    id: str
    title: str
    answers: dict                 # name -> what it holds (the student stub's comment); all are required
    verify: Callable = field(repr=False)   # verify(**answers) -> (ok, message)
    inputs: dict = field(default_factory=dict)   # context the check also needs: name -> what it is


EXERCISES: dict[str, Exercise] = {}


def _exercise(ex_id: str, title: str, answers: dict, inputs: dict | None = None):
    def wrap(func):
        EXERCISES[ex_id] = Exercise(ex_id, title, dict(answers), func, dict(inputs or {}))
        return func
    return wrap


def strict() -> bool:
    """Whether a failing check raises (``SOLARCNN_EXERCISES_STRICT`` is 1/true/yes)."""
    return os.environ.get(STRICT_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def list_exercises() -> list[str]:
    """The ids of every registered exercise, in notebook order."""
    return sorted(EXERCISES, key=lambda s: tuple(int(p) for p in s.split(".")))


def check(exercise_id: str, *positional, **answer) -> bool:
    """Check an exercise's answer; print a one- or two-sentence verdict and return True (right) or False.

    Args:
        exercise_id: ``"NN.k"``: notebook NN, exercise k (see `list_exercises`).
        *positional: the answers in the order of `EXERCISES[id].answers` (``check("05.2", first_step, rel_gap)``).
        **answer: the names the exercise asks for (`EXERCISES[id].answers`) and the inputs it needs
            (`EXERCISES[id].inputs`), by keyword.

    Returns:
        True if the answer is right. A wrong, missing or broken answer prints what to look at and returns
        False — or raises `ExerciseCheckFailed` when ``SOLARCNN_EXERCISES_STRICT`` is set.
    """
    ex = EXERCISES.get(str(exercise_id))
    if ex is None:
        ok, msg = False, (f"There is no exercise {exercise_id!r}; the exercises are "
                          f"{', '.join(list_exercises())}.")
    else:
        expected = {**ex.answers, **ex.inputs}
        names = list(ex.answers)
        twice = [n for n in names[:len(positional)] if n in answer]
        answer = {**dict(zip(names, positional)), **answer}
        unknown = sorted(set(answer) - set(expected))
        missing = [n for n in expected if answer.get(n) is None]
        if len(positional) > len(names) or twice:
            ok, msg = False, (f"Exercise {ex.id} takes {len(names)} answer(s) ({', '.join(names)}) in this order, "
                              f"each once; the inputs ({', '.join(ex.inputs) or 'none'}) by keyword.")
        elif unknown:
            ok, msg = False, (f"Exercise {ex.id} does not take {', '.join(unknown)}; it takes "
                              f"{', '.join(expected)}.")
        elif missing:
            ok, msg = False, ("Not answered yet: set " + "; ".join(f"`{n}` ({expected[n]})" for n in missing)
                              + ", then run this cell again.")
        else:
            try:
                ok, msg = ex.verify(**answer)
            except Exception as exc:   # a learner's answer of the wrong kind must not end in a traceback
                ok, msg = False, (f"The check could not use your answer ({type(exc).__name__}: "
                                  f"{str(exc)[:200]}); compare its type and shape with what the exercise "
                                  f"asks for.")
    label = f"Exercise {exercise_id}"
    print(f"{label}: {'right' if ok else 'not yet'}. {msg}")
    if not ok and strict():
        raise ExerciseCheckFailed(f"{label}: {msg}")
    return bool(ok)


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------

def _num(x) -> float:
    return float(np.asarray(x, dtype=float).reshape(()))


def _close(a, b, tol: float) -> bool:
    a, b = _num(a), _num(b)
    if math.isnan(b):
        return math.isnan(a)
    return abs(a - b) <= tol


def _accuracy(model, x, y) -> float:
    logits = np.asarray(model.predict(np.asarray(x), verbose=0))
    return float(np.mean(logits.argmax(axis=-1) == np.asarray(y).astype(int)))


def _header_value(path, key):
    from astropy.io import fits

    return fits.getheader(path)[key]


# ---------------------------------------------------------------------------------------------------------------
# 00 · Welcome
# ---------------------------------------------------------------------------------------------------------------

QUIET_BOX = (slice(20, 140), slice(20, 140))


@_exercise("00.1", "Contrast across the line",
           {"contrast": "RMS contrast (std/mean) of frame[20:140, 20:140], one value per frame of `scan`"},
           {"frames": "the nine frames of the first scan (`scan`)"})
def _check_00_1(contrast, frames):
    frames = [np.asarray(f, dtype=float) for f in frames]
    got = np.asarray(contrast, dtype=float).ravel()
    if got.size != len(frames):
        return False, f"Give one contrast per frame: {len(frames)} frames, {got.size} values."
    ref = np.array([f[QUIET_BOX].std() / f[QUIET_BOX].mean() for f in frames])
    if np.allclose(got, ref, rtol=1e-3):
        return True, (f"The contrast peaks at {100 * ref.max():.1f} % in frame {int(ref.argmax())}; look at that "
                      f"frame's WAVEOFF to answer the 'why'.")
    if np.all(got > 1.5):
        return False, "These look like standard deviations in DN; the RMS contrast divides by the mean."
    if np.allclose(got / 100, ref, rtol=1e-3):
        return False, "Close: give the contrast as a fraction (0.05), not in per cent."
    return False, ("The values differ from std/mean of the quiet corner frame[20:140, 20:140] (no sunspot in it); "
                   "check the box and that you use every frame of the scan in order.")


@_exercise("00.2", "Pixels to the sky",
           {"solar_xy": "(Solar-X, Solar-Y) of the darkest umbra pixel, in arcsec"},
           {"image": "the synthetic image (`syn`)", "header": "its FITS header (`syn_hdr`)"})
def _check_00_2(solar_xy, image, header):
    from astropy.wcs import WCS
    from scipy.ndimage import median_filter

    img = np.asarray(image, dtype=float)
    tx, ty = (float(v) for v in np.asarray(solar_xy, dtype=float).ravel()[:2])
    filled = np.nan_to_num(img, nan=np.nanmedian(img))
    rel = np.where(np.isnan(img), np.inf, img / median_filter(filled, size=15))
    w = WCS(header)
    ny, nx = img.shape
    if abs(tx) <= 1.5 and abs(ty) <= 1.5 or 358.5 <= tx <= 360:
        return False, ("These look like degrees (astropy's WCS returns world values in degrees); give arcsec, "
                       "with Solar-X between -180 and +180 degrees before converting.")
    px, py = (float(v) for v in w.world_to_pixel_values(tx / 3600, ty / 3600))
    if not (np.isfinite(px) and np.isfinite(py)) or not (-0.5 <= px < nx - 0.5 and -0.5 <= py < ny - 0.5):
        if 0 <= tx < nx and 0 <= ty < ny:
            return False, ("These look like pixel indices; convert them to helioprojective arcsec with the "
                           "header's WCS (pixel_to_world_values).")
        return False, ("That point is outside the image; check the order of the pixel indices (x is the column, "
                       "y the row) in pixel_to_world_values.")
    ix, iy = int(round(px)), int(round(py))
    near = rel[max(iy - 2, 0):iy + 3, max(ix - 2, 0):ix + 3]
    darkest = float(np.min(rel))
    if np.isfinite(near).any() and float(np.min(near)) <= 0.5 * (1 + darkest):
        return True, f"That point is in an umbra (the header says {header.get('NSPOTS', '?')} spot(s))."
    if np.isnan(img[iy, ix]):
        return False, "That point is off the disk; the darkest pixels of the raw image are there or at the limb."
    return False, ("That point is not in a sunspot umbra. The limb is darker than most umbrae: compare each pixel "
                   "with its smooth surroundings before taking the minimum, and check x/y order.")


def _limb_fit(image, header, bins=30):
    img = np.asarray(image, dtype=float)
    n = img.shape[0]
    yy, xx = np.mgrid[0:n, 0:n]
    r = np.hypot(xx - (n - 1) / 2, yy - (n - 1) / 2) * header["CDELT1"] / header["RSUN_OBS"]
    edges = np.linspace(0, 1, bins + 1)
    idx = np.digitize(r, edges) - 1
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            prof = np.array([np.nanmedian(img[idx == i]) if (idx == i).any() else np.nan for i in range(bins)])
    r_mid = 0.5 * (edges[1:] + edges[:-1])
    prof = prof / prof[0]
    mu = np.sqrt(1 - r_mid ** 2)
    good = np.isfinite(prof) & (r_mid < 0.95)
    b2, a1, _ = np.polyfit(1 - mu[good], prof[good], 2)
    return -a1, -b2


@_exercise("00.3", "Fit the limb darkening",
           {"a": "the linear coefficient of I/I0 = 1 - a(1-mu) - b(1-mu)^2",
            "b": "the quadratic coefficient"},
           {"image": "the real HMI image (`real`)", "header": "its header (`real_hdr`)"})
def _check_00_3(a, b, image, header):
    ra, rb = _limb_fit(image, header)
    a, b = _num(a), _num(b)
    if abs(a - ra) <= 0.05 and abs(b - rb) <= 0.07:
        return True, ("Your a and b describe the real profile (the fit moves by a few hundredths with the "
                      "binning); compare them with the generator's a = 0.45, b = 0.22.")
    if abs(a + ra) <= 0.05 and abs(b + rb) <= 0.07:
        return False, "Check the signs: the law subtracts a(1-mu) and b(1-mu)^2, so np.polyfit returns -b, -a."
    if abs(a - 0.45) < 0.01 and abs(b - 0.22) < 0.01:
        return False, "Those are the generator's values; fit the real HMI radial profile instead."
    if abs(a - rb) <= 0.07 and abs(b - ra) <= 0.05:
        return False, "a and b are swapped: np.polyfit returns the highest power first."
    return False, ("These coefficients do not fit the real profile; fit I/I0 against (1-mu) with degree 2, using "
                   "mu = sqrt(1 - r^2) and only r < 0.95.")


# ---------------------------------------------------------------------------------------------------------------
# 01 · FITS data preparation
# ---------------------------------------------------------------------------------------------------------------

def _first_with_waveoff(files, waveoff):
    for f in files:
        if int(_header_value(f, "WAVEOFF")) == waveoff:
            return f
    raise ValueError(f"no file with WAVEOFF {waveoff} among the {len(files)} files")


@_exercise("01.1", "Byte-scaling the line core and the wing",
           {"core_scaled": "prep.bytescale of the first WAVEOFF = 0 frame",
            "wing_scaled": "prep.bytescale of the first WAVEOFF = -160 frame"},
           {"files": "the real SOT files (`sot_files`)"})
def _check_01_1(core_scaled, wing_scaled, files):
    from ..io import read_fits
    from ..slic import prep

    files = list(files)
    core = read_fits(_first_with_waveoff(files, 0))[0]
    wing = read_fits(_first_with_waveoff(files, -160))[0]
    want_c, want_w = prep.bytescale(core), prep.bytescale(wing)
    got_c, got_w = np.asarray(core_scaled, dtype=float), np.asarray(wing_scaled, dtype=float)
    if got_c.shape != want_c.shape or got_w.shape != want_w.shape:
        return False, f"Each answer is a whole scaled frame of shape {want_c.shape}."
    if np.allclose(got_c, want_c) and np.allclose(got_w, want_w):
        return True, (f"Both now span 0–255 although the raw core mean is {core.mean():.0f} DN and the wing "
                      f"{wing.mean():.0f} DN: say what that does to the line's depth.")
    if np.allclose(got_c, want_w) and np.allclose(got_w, want_c):
        return False, "Core and wing are swapped (the core is WAVEOFF = 0)."
    if got_c.max() > 255 or got_w.max() > 255:
        return False, "These are raw counts; scale each frame with prep.bytescale first."
    return False, "Use the first frame with WAVEOFF = 0 and the first with WAVEOFF = -160, each byte-scaled."


@_exercise("01.2", "The faithful split's modulus",
           {"split5": "prep.assemble(..., split='faithful', percent_split=5)",
            "leak5": "its leakage count (prep.leakage)"})
def _check_01_2(split5, leak5):
    from ..slic import prep

    n_val, n_all = len(split5.y_val), len(split5.y_val) + len(split5.y_train)
    frac = n_val / max(n_all, 1)
    if prep.leakage(split5) == 0:
        return False, "This split has no leakage: it is the grouped split; assemble with split='faithful'."
    if not 0.15 <= frac <= 0.26:
        return False, (f"{n_val} of {n_all} frames ({100 * frac:.0f} %) are in validation; percent_split=5 puts "
                       f"every 5th file of a class there (about 20 %).")
    if int(leak5) != prep.leakage(split5):
        return False, "leak5 is not the leakage of this split; count it with prep.leakage."
    return True, (f"{leak5} of {n_val} validation frames share a sequence with training: ask which frames of a "
                  f"sequence can ever be alone on the validation side.")


# ---------------------------------------------------------------------------------------------------------------
# 02 · Slic classifier
# ---------------------------------------------------------------------------------------------------------------

@_exercise("02.1", "The original inference path",
           {"orig": "the predictions of classify(..., preprocessing='original')"},
           {"files": "the files you classified (`sot_files`)", "model": "the model (path or keras.Model)"})
def _check_02_1(orig, files, model):
    from ..slic.classify import classify

    orig = list(orig)
    files = list(files)
    if len(orig) != len(files):
        return False, f"Classify every file: {len(files)} files, {len(orig)} predictions."
    ref = classify(files, model, preprocessing="original")
    same = all(np.allclose([p.probabilities[c] for c in r.probabilities],
                           [r.probabilities[c] for c in r.probabilities], atol=1e-4)
               for p, r in zip(orig, ref))
    if same:
        n = sum(p.label == "sunspots" for p in orig)
        return True, f"{n} of {len(orig)} frames come out as sunspots on raw counts; compare with the default."
    trained = classify(files, model)
    if all(np.allclose(list(p.probabilities.values()), list(t.probabilities.values()), atol=1e-4)
           for p, t in zip(orig, trained)):
        return False, "These are the default (training) predictions; pass preprocessing='original'."
    return False, "These are not the original path's predictions for these files and this model."


@_exercise("02.2", "Training on the leaky split",
           {"val_accuracy": "final validation accuracy on the faithful split",
            "model": "the model trained on it", "data": "the faithful split (prep.assemble(..., split='faithful'))"})
def _check_02_2(val_accuracy, model, data):
    from ..slic import prep

    if prep.leakage(data) == 0:
        return False, "This split has no leakage: it is the grouped split; assemble with split='faithful'."
    acc = _accuracy(model, data.x_val, data.y_val)
    if not _close(val_accuracy, acc, 0.5 / max(len(data.y_val), 1) + 1e-6):
        return False, (f"The model scores {acc:.3f} on this split's validation frames, not {_num(val_accuracy):.3f}: "
                       f"report the accuracy of the final weights on data.x_val.")
    return True, "That is the leaky split's score; decide which of the two numbers a paper should report."


# ---------------------------------------------------------------------------------------------------------------
# 03 · CIRRUS sky classification
# ---------------------------------------------------------------------------------------------------------------

@_exercise("03.1", "Reproduce the normalisation bug",
           {"accuracy": "test accuracy after cfg.epochs epochs on the buggy inputs",
            "model": "the model trained on them"},
           {"x_test": "the test frames with the buggy normalisation", "y_test": "their labels"})
def _check_03_1(accuracy, model, x_test, y_test):
    x, y = np.asarray(x_test), np.asarray(y_test).astype(int)
    rule = (x.reshape(len(x), -1).max(axis=1) < 2.0).astype(int)
    if np.mean(rule == y) < 0.99:
        return False, "These inputs are normalised correctly; load them with load_binned(..., normalize_clear=False)."
    acc = _accuracy(model, x, y)
    if not _close(accuracy, acc, 0.5 / max(len(y), 1) + 1e-6):
        return False, f"The model scores {acc:.3f} on these frames, not {_num(accuracy):.3f}; evaluate it on them."
    return True, "That number comes from the buggy inputs; now explain why it says nothing about clouds."


@_exercise("03.2", "Measure leakage",
           {"accuracy": "test accuracy of the model trained on the random split",
            "model": "that model", "train_idx": "its training frame indices", "test_idx": "its test frame indices"},
           {"x": "all frames (`x_all`)", "y": "all labels (`y_all`)", "groups": "sequence ids (`seq_all`)"})
def _check_03_2(accuracy, model, train_idx, test_idx, x, y, groups):
    train_idx, test_idx = np.asarray(train_idx, dtype=int), np.asarray(test_idx, dtype=int)
    groups = np.asarray(groups)
    if np.intersect1d(train_idx, test_idx).size:
        return False, "Some frames are both in training and in test; split the frames, do not overlap them."
    if not np.isin(groups[test_idx], groups[train_idx]).any():
        return False, "No test frame shares a sequence with training: that is a sequence split; split frames at random."
    acc = _accuracy(model, np.asarray(x)[test_idx], np.asarray(y)[test_idx])
    if not _close(accuracy, acc, 0.5 / max(len(test_idx), 1) + 1e-6):
        return False, f"The model scores {acc:.3f} on these test frames, not {_num(accuracy):.3f}."
    shared = float(np.isin(groups[test_idx], groups[train_idx]).mean())
    return True, f"{100 * shared:.0f} % of the test frames have a sequence in training; compare the two accuracies."


@_exercise("03.3", "Day and night",
           {"accuracy": "dict {'DAY': accuracy, 'NIGHT': accuracy} (the times of day present)"},
           {"y_true": "test labels (`y_test`)", "y_pred": "test predictions (`y_hat`)",
            "files": "the test frames' files (`[dataset['binned'][i] for i in test_idx]`)"})
def _check_03_3(accuracy, y_true, y_pred, files):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    dn = np.array([str(_header_value(f, "DAYNIGHT")).strip() for f in files])
    want = {k: float(np.mean(y_pred[dn == k] == y_true[dn == k])) for k in ("DAY", "NIGHT") if (dn == k).any()}
    got = {str(k).upper(): v for k, v in dict(accuracy).items()}
    if set(got) != set(want):
        return False, f"Give one accuracy per time of day present in the test set: {sorted(want)}."
    bad = [k for k in want if not _close(got[k], want[k], 1e-6)]
    if not bad:
        return True, f"Day {want.get('DAY', float('nan')):.3f}, night {want.get('NIGHT', float('nan')):.3f}."
    overall = float(np.mean(y_pred == y_true))
    if all(_close(got[k], overall, 1e-6) for k in bad):
        return False, "That is the overall accuracy; select the frames by the DAYNIGHT header first."
    return False, f"The {' and '.join(b.lower() for b in bad)} accuracy is off; read DAYNIGHT of each test file."


# ---------------------------------------------------------------------------------------------------------------
# 04 · CIRRUS cloud segmentation
# ---------------------------------------------------------------------------------------------------------------

@_exercise("04.1", "Per-image or micro IoU?",
           {"per_image_mean": "the mean of the per-image IoUs of the U-Net on the synthetic test set"},
           {"y_true": "test masks (`y_te`)", "prob": "the U-Net's probabilities", "valid": "the FOV mask (`fov_in`)"})
def _check_04_1(per_image_mean, y_true, prob, valid):
    from ..metrics import iou

    per = np.asarray(iou(y_true, prob, valid=np.asarray(valid)[None], per_image=True), dtype=float)
    ref = float(np.nanmean(per))
    micro = float(iou(y_true, prob, valid=np.asarray(valid)[None]))
    if _close(per_image_mean, ref, 1e-4):
        return True, f"Per-image mean {ref:.3f} against micro {micro:.3f}; look at the worst frames' cloud fraction."
    if _close(per_image_mean, micro, 1e-4):
        return False, "That is the micro (pixel-pooled) IoU; compute one IoU per image (per_image=True) and average."
    return False, "Not the per-image mean: pass the FOV mask as valid and the 0.5 threshold, one IoU per test frame."


@_exercise("04.2", "Soft masks",
           {"test_iou": "FOV test IoU of the U-Net trained with faithful augmentation",
            "model": "that model"},
           {"x": "test images (`x_te`)", "y": "test masks (`y_te`)", "valid": "the FOV mask (`fov_in`)"})
def _check_04_2(test_iou, model, x, y, valid):
    from ..metrics import iou

    p = np.asarray(model.predict(np.asarray(x), verbose=0))[..., 0]
    ref = float(iou(y, p, valid=np.asarray(valid)[None]))
    if _close(test_iou, ref, 1e-4):
        return True, f"The model's test IoU is {ref:.3f}; compare it with the corrected augmentation's."
    full = float(iou(y, p))
    if _close(test_iou, full, 1e-4):
        return False, "Count only pixels inside the field of view (valid=fov_in)."
    return False, f"This model scores {ref:.3f} on the test set inside the FOV, not {_num(test_iou):.3f}."


@_exercise("04.3", "Choose the threshold",
           {"threshold": "the threshold in 0.3–0.7 (steps of 0.05) with the best training IoU"},
           {"prob": "the WSISEG U-Net's probabilities on the training images (`p_tr`)",
            "labels": "the training labels with IGNORE = -1 (`lt`)"})
def _check_04_3(threshold, prob, labels):
    from ..metrics import iou

    labels = np.asarray(labels)
    valid = labels != -1
    truth = np.where(valid, labels, 0)
    grid = np.round(np.arange(0.3, 0.71, 0.05), 2)
    scores = {float(t): float(iou(truth, prob, valid=valid, threshold=float(t))) for t in grid}
    best = max(scores.values())
    t = _num(threshold)
    if not 0.3 - 1e-9 <= t <= 0.7 + 1e-9:
        return False, "Search the thresholds 0.3 to 0.7 only."
    mine = float(iou(truth, prob, valid=valid, threshold=t))
    if mine >= best - 1e-9:
        return True, "That threshold has the best training IoU; now apply it, unchanged, to the held-out images."
    return False, (f"Another threshold scores higher on the training images ({best:.3f} against {mine:.3f}); "
                   f"leave out the ignored (-1) pixels and choose on training data only.")


# ---------------------------------------------------------------------------------------------------------------
# 05 · DeepCAM
# ---------------------------------------------------------------------------------------------------------------

@_exercise("05.1", "Per-sample or batch-pooled IoU",
           {"per_sample": "deepcam_iou per sample (the default)", "pooled": "the v0.7 batch-pooled IoU"},
           {"y_true": "held-out labels (`y_val`)", "logits": "the model's logits"})
def _check_05_1(per_sample, pooled, y_true, logits):
    from ..metrics.deepcam import deepcam_iou

    ps, po = deepcam_iou(y_true, logits), deepcam_iou(y_true, logits, per_sample=False)
    if _close(per_sample, ps, 1e-5) and _close(pooled, po, 1e-5):
        return True, "Both right; explain which samples gain from the absent-class rule."
    if _close(per_sample, po, 1e-5) and _close(pooled, ps, 1e-5):
        return False, "The two are swapped: per_sample=False is the pooled (v0.7) version."
    return False, "Compute both with deepcam_iou on the held-out samples, once with per_sample=False."


@_exercise("05.2", "Faithful against intended schedule",
           {"first_step": "the first optimizer step (0-4999) at which the batch-512 faithful and intended rates differ",
            "rel_gap": "(intended - faithful) / intended from that step on (one number: is it constant?)"})
def _check_05_2(first_step, rel_gap):
    from ..deepcam.schedule import reference_schedule

    steps = np.arange(5000)
    a = reference_schedule(512).lr_at(steps)
    b = reference_schedule(512, faithful=False).lr_at(steps)
    differs = np.nonzero(~np.isclose(a, b, rtol=1e-9, atol=0.0))[0]
    gaps = (b[differs] - a[differs]) / b[differs]
    want_first, want_gap = int(differs[0]), float(np.median(gaps))
    if int(first_step) != want_first:
        return False, ("Not the first differing step: compare the two rates with a tolerance (np.isclose), not with "
                       "a threshold of exactly 1 %, which floating-point rounding decides; look at the end of warm-up.")
    if not abs(float(rel_gap) - want_gap) <= 1e-6:
        return False, (f"The step is right, the gap is not: compute (intended - faithful) / intended at the steps "
                       f"from {want_first} on; received {float(rel_gap)!r}.")
    return True, ("From the end of warm-up on the faithful rate is 1/W below the intended one at every step; the "
                  "milestones fall on the same steps in both, so the gap never changes.")


@_exercise("05.3", "The relaxed labels",
           {"relaxed_iou": "per-class IoU (3 values) against labels_1",
            "changed": "the name of the class whose labels change (see CLASS_NAMES)",
            "y_relaxed": "the labels_1 masks of the held-out samples"},
           {"y_strict": "the labels_0 masks (`y_val`)", "logits": "the model's logits"})
def _check_05_3(relaxed_iou, changed, y_relaxed, y_strict, logits):
    from ..metrics.deepcam import CLASS_NAMES, deepcam_iou_per_class

    y_relaxed, y_strict = np.asarray(y_relaxed), np.asarray(y_strict)
    if np.array_equal(y_relaxed, y_strict):
        return False, "These labels are labels_0 again; read them with label_key='climate/labels_1'."
    ref = deepcam_iou_per_class(y_relaxed, logits).mean(axis=0)
    if not np.allclose(np.asarray(relaxed_iou, dtype=float).ravel(), ref, atol=1e-5):
        return False, "The per-class IoUs against labels_1 differ; score the model with deepcam_iou_per_class."
    moved = [CLASS_NAMES[k] for k in (1, 2) if not np.array_equal(y_relaxed == k, y_strict == k)]
    if str(changed).strip().lower() not in moved:
        return False, "Compare the masks class by class (y == k): which foreground class is not identical?"
    return True, "Class and scores match; say why background moves with it and the other class does not."


# ---------------------------------------------------------------------------------------------------------------
# 06 · Flare prediction
# ---------------------------------------------------------------------------------------------------------------

@_exercise("06.1", "Skill scores by hand",
           {"tss": "TSS for TP=3, FN=1, FP=2, TN=4", "hss": "HSS2 for the same counts",
            "tss_never": "TSS when no flare is ever predicted (TP=FP=0, FN=4, TN=6)", "hss_never": "HSS2 then"})
def _check_06_1(tss, hss, tss_never, hss_never):
    from ..metrics.forecast import hss_from_counts, tss_from_counts

    want = (tss_from_counts(4, 2, 1, 3, warn=False), hss_from_counts(4, 2, 1, 3, warn=False),
            tss_from_counts(6, 0, 4, 0, warn=False), hss_from_counts(6, 0, 4, 0, warn=False))
    got = (tss, hss, tss_never, hss_never)
    names = ("tss", "hss", "tss_never", "hss_never")
    bad = [n for n, g, w in zip(names, got, want) if not _close(g, w, 1e-4)]
    if not bad:
        return True, "All four match; note what both scores give a model that never predicts a flare."
    if "tss" in bad and _close(tss, 3 / 4 - 4 / 6, 1e-4):
        return False, "TSS subtracts the false-alarm rate FP/(FP+TN), not the specificity."
    return False, f"Look again at {', '.join(bad)}: TSS = TP/(TP+FN) - FP/(FP+TN); HSS2 compares with chance."


@_exercise("06.2", "The window boundary",
           {"counts": "three booleans: does the flare at t, at t + 23:59:59, at t + 24 h count for the label at t?"})
def _check_06_2(counts):
    from ..flare import labels as flab

    t0 = np.datetime64("2012-03-06T00:00:00")
    times = np.array([t0, t0 + np.timedelta64(86399, "s"), t0 + np.timedelta64(1, "D")])
    want = []
    for k in range(3):
        classes = np.array(["X1.0" if j == k else "B1.0" for j in range(3)])
        lab = flab.label_times([t0], flab.FlareList(times, classes, np.zeros(3), np.zeros(3)))
        want.append(bool(lab.target[0]))
    got = [bool(c) for c in counts]
    if got == want:
        return True, "Say in words which end of the 24-hour window is open and which closed."
    if len(got) != 3:
        return False, "Give three booleans, one per flare (t, t + 23:59:59, t + 24 h)."
    wrong = [("t", "t + 23:59:59", "t + 24 h")[k] for k in range(3) if got[k] != want[k]]
    return False, f"Look again at the flare at {' and '.join(wrong)}: label t with flab.label_times and read target."


@_exercise("06.3", "Faithful vs corrected class order",
           {"kept_string": "the GOES class the original's string sort keeps", "kept_flux": "the one order='flux' keeps",
            "label_changes": "does the binary label differ between the two (bool)"})
def _check_06_3(kept_string, kept_flux, label_changes):
    from ..flare import labels as flab

    t0 = np.datetime64("2012-03-06T00:00:00")
    fl = flab.FlareList(np.array([t0 + np.timedelta64(3600, "s"), t0 + np.timedelta64(7200, "s")]),
                        np.array(["X10.0", "X2.0"]), np.zeros(2), np.array([-80.0, 20.0]))
    s = flab.label_times([t0], fl, order="string")
    f = flab.label_times([t0], fl, order="flux")
    want = (str(s.goes_class[0]), str(f.goes_class[0]), bool(s.target[0] != f.target[0]))
    got = (str(kept_string).strip().upper(), str(kept_flux).strip().upper(), bool(label_changes))
    if got == want:
        return True, "The kept flare also sets the location the near-limb analysis uses."
    if got[:2] == want[:2][::-1]:
        return False, "The two kept classes are swapped: sort the class strings as text to see what the original keeps."
    if got[:2] != want[:2]:
        return False, "Label t with both orders (flab.label_times(..., order=...)) and read goes_class."
    return False, "The classes are right; compare the two labels' target values."


# ---------------------------------------------------------------------------------------------------------------
# 07 · Hyperparameter search
# ---------------------------------------------------------------------------------------------------------------

def _finished(study):
    return [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]


@_exercise("07.1", "Random search vs TPE",
           {"random_study": "the study run with sampler='random'", "tpe_study": "the study run with sampler='tpe'"})
def _check_07_1(random_study, tpe_study):
    import optuna

    if not isinstance(random_study.sampler, optuna.samplers.RandomSampler):
        return False, "random_study does not use a random sampler; make it with search.make_study(sampler='random')."
    if not isinstance(tpe_study.sampler, optuna.samplers.TPESampler):
        return False, "tpe_study does not use TPE; make it with search.make_study(sampler='tpe')."
    nr, nt = len(_finished(random_study)), len(_finished(tpe_study))
    if nr != nt or nr < 2:
        return False, f"Give both the same budget of at least 2 trials (random {nr}, TPE {nt})."
    return True, (f"Random {random_study.best_value:.3f}, TPE {tpe_study.best_value:.3f} after {nr} trials each; "
                  f"mind how many of TPE's trials were random start-up draws.")


@_exercise("07.2", "Another pruner",
           {"study": "the study run with pruner='hyperband'",
            "pruned_seconds": "total seconds of its pruned trials (user attribute 'seconds')"})
def _check_07_2(study, pruned_seconds):
    import optuna

    if not isinstance(study.pruner, optuna.pruners.HyperbandPruner):
        return False, "This study does not prune with Hyperband; make it with search.make_study(pruner='hyperband')."
    if len(_finished(study)) < 2:
        return False, "Run at least 2 trials so that something can be compared or pruned."
    want = sum(t.user_attrs.get("seconds", 0) for t in study.trials if t.state.name == "PRUNED")
    if not _close(pruned_seconds, want, 0.011):
        return False, ("pruned_seconds is not the total of the pruned trials' 'seconds'; sum it over the trials "
                       "whose state is PRUNED.")
    n = sum(t.state.name == "PRUNED" for t in study.trials)
    return True, f"{n} trial(s) pruned, {want:.1f} s spent in them; see after how many epochs each stopped."


@_exercise("07.3", "Add a parameter",
           {"space": "the search space with a categorical batch_size", "study": "a study that trained with it"})
def _check_07_3(space, study):
    params = {p.name: p for p in space.params}
    p = params.get("batch_size")
    if p is None:
        return False, "The space has no parameter named batch_size; add a search.Param('batch_size', ...)."
    if p.kind != "categorical" or len(p.choices) < 2:
        return False, "Make batch_size categorical with at least two choices."
    used = [t for t in _finished(study) if "batch_size" in t.params]
    if not used:
        return False, "No finished trial of this study drew batch_size; suggest it from the space in the objective."
    if any(t.params["batch_size"] not in p.choices for t in used):
        return False, "A trial drew a batch size outside the space's choices."
    return True, "batch_size is searched; explain what a fixed number of epochs means for different batch sizes."
