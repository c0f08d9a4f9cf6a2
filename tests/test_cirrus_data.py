"""CIRRUS data handling: rebin, masks, augmentation, splits, classifier normalisation, bad files, generator."""
import datetime as dt

import numpy as np
import pytest
from astropy.io import fits

from solarcnn.cirrus import augment, masks, rebin, split
from solarcnn.errors import DataFileError


def test_rebin_reference_value_and_errors():
    out = rebin.rebin(np.arange(512 * 640).reshape(512, 640), (128, 160))
    assert out.shape == (128, 160) and out[0, 0] == 961.5
    hand = rebin.rebin(np.array([[1, 3, 5, 7], [1, 3, 5, 7]]), (1, 2))
    assert hand.tolist() == [[2.0, 6.0]]
    with pytest.raises(ValueError, match="not an exact multiple"):
        rebin.rebin(np.zeros((10, 10)), (3, 5))


@pytest.mark.parametrize("dtype", ["int16", "uint16", "float32", "float64"])
def test_rebin_equals_numpy_block_mean(dtype):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 16384, (512, 640)).astype(dtype)
    ref = a.reshape(128, 4, 160, 4).mean(axis=(1, 3))
    out = rebin.rebin(a, (128, 160))
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)          # integer counts: exactly the mean
    x = rng.standard_normal((60, 90))
    np.testing.assert_allclose(rebin.rebin(x, (20, 30)), x.reshape(20, 3, 30, 3).mean(axis=(1, 3)),
                               rtol=1e-12, atol=1e-14)


def test_rebin_files_parallel_matches_serial(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = tmp_path / f"f{i}_flux.fits"
        fits.PrimaryHDU(rng.integers(0, 16384, (512, 640)).astype(np.int16)).writeto(p)
        paths.append(p)
    a = rebin.rebin_files(paths, tmp_path / "s", n_jobs=1, progress=False)
    b = rebin.rebin_files(paths, tmp_path / "p", n_jobs=2, progress=False)
    for pa, pb, src in zip(a, b, paths):
        assert pa.name == src.name.replace(".fits", "_binned.fits")
        da, db = fits.getdata(pa), fits.getdata(pb)
        np.testing.assert_array_equal(da, db)
        np.testing.assert_allclose(da, rebin.rebin(fits.getdata(src).astype(float)))


def test_rebin_fits_bad_shape_names_file(tmp_path):
    p = tmp_path / "odd_flux.fits"
    fits.PrimaryHDU(np.zeros((100, 100), np.int16)).writeto(p)
    with pytest.raises(DataFileError) as err:
        rebin.rebin_fits(p, tmp_path)
    assert str(p) in str(err.value) and "cannot be block-averaged" in str(err.value)


def test_log_stretch_values():
    from astropy.visualization import LogStretch

    np.testing.assert_allclose(LogStretch(a=1e5)(np.array([0.0, 0.5, 1.0])), [0, 0.939795, 1], atol=1e-6)


def _test_image():
    yy, xx = np.mgrid[0:128, 0:160]
    img = 4000 + 30 * xx + 5 * yy                    # a gradient sky
    img = img + 3000 * ((yy - 60) ** 2 + (xx - 90) ** 2 < 25 ** 2)   # a warm cloud
    img = img + np.random.default_rng(1).normal(0, 40, img.shape)
    return img


def test_stretch_is_zscale_then_log():
    from astropy.visualization import ZScaleInterval

    div = _test_image() / 2 ** 14
    lo, hi = ZScaleInterval(contrast=0.9).get_limits(div)
    y = np.clip((div - lo) / (hi - lo), 0, 1)
    expected = np.log(1e5 * y + 1) / np.log(1e5 + 1)
    np.testing.assert_allclose(masks.stretch(div), expected, atol=1e-6)


def test_mask_order_matters():
    img = _test_image()
    right = masks.generate_mask(img)
    wrong = masks.generate_mask(img, order="log_first")
    assert (right != wrong).any()
    assert right.dtype == np.int8 and right.shape == (128, 160)
    assert set(np.unique(right)) <= {0, 1}
    assert right[60, 90] == 1 and right[120, 5] == 0


def test_mask_file_round_trip_and_header(tmp_path):
    p = tmp_path / "x_flux.fits"
    raw = np.repeat(np.repeat(_test_image(), 4, 0), 4, 1).clip(0, 16383).astype(np.int16)
    fits.PrimaryHDU(raw).writeto(p)
    out = masks.generate_mask_file(p, tmp_path / "m")
    assert out.name == "x_masked.fits"
    with fits.open(out) as h:
        assert h[1].header["IMGTYPE"] == "GROUND-TRUTH"
        assert h[1].data.dtype == np.int8 and h[0].data.shape == (128, 160)
    x, y = masks.read_masked(out)
    assert x.max() <= 1 and y.dtype == np.int8
    np.testing.assert_array_equal(y, masks.generate_mask(raw))


def test_read_masked_missing_hdu(tmp_path):
    p = tmp_path / "nomask_masked.fits"
    fits.PrimaryHDU(np.zeros((128, 160))).writeto(p)
    with pytest.raises(DataFileError) as err:
        masks.read_masked(p)
    assert str(p) in str(err.value) and "HDU1" in str(err.value)


def test_read_masked_wrong_shape(tmp_path):
    p = tmp_path / "small_masked.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((64, 80))), fits.ImageHDU(np.zeros((64, 80), np.int8))]).writeto(p)
    with pytest.raises(DataFileError) as err:
        masks.read_masked(p)
    assert str(p) in str(err.value) and "(64, 80)" in str(err.value)


def test_read_masked_non_binary(tmp_path):
    p = tmp_path / "soft_masked.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((128, 160))),
                  fits.ImageHDU(np.full((128, 160), 3, np.int8))]).writeto(p)
    with pytest.raises(DataFileError, match="not binary"):
        masks.read_masked(p)


def test_mask_file_not_fits(tmp_path):
    p = tmp_path / "junk_flux.fits"
    p.write_bytes(b"not a fits file at all" * 10)
    with pytest.raises(DataFileError) as err:
        masks.generate_mask_file(p, tmp_path)
    assert str(p) in str(err.value)


@pytest.mark.parametrize("kind", augment.KINDS)
def test_augmentation_keeps_masks_binary_and_aligned(kind):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:128, 0:160]
    mask = (((yy - 64) ** 2 + (xx - 80) ** 2) < 30 ** 2).astype(np.int8)
    image = mask.astype(np.float32) * 0.5 + 0.2      # image edges sit exactly on mask edges
    for _ in range(5):
        im2, m2 = augment.augment_pair(image, mask, rng, kind)
        assert set(np.unique(m2)) <= {0, 1} and m2.dtype == np.int8
        # aligned: where the transformed image is clearly cloud/clear, the mask agrees
        assert (m2[im2 > 0.65] == 1).mean() > 0.97 and (m2[im2 < 0.25] == 0).mean() > 0.97


def test_faithful_cubic_masks_are_soft():
    rng = np.random.default_rng(0)
    mask = np.zeros((128, 160), np.int8)
    mask[40:90, 50:120] = 1
    _, soft = augment.augment_pair(mask.astype(np.float32), mask, rng, "rotate", faithful=True)
    assert not set(np.unique(soft)) <= {0, 1}


def test_shear_pivots_on_the_centre_corrected_and_on_the_corner_faithful():
    """The original shears with affine_transform(matrix) and no offset: about the corner (0, 0) (reference/cirrus.md
    §4). faithful=True reproduces it; the corrected default shears about the centre."""
    from scipy import ndimage as ndi

    h, w = 64, 80
    image = np.random.default_rng(5).random((h, w)).astype(np.float32)
    mask = (image > 0.5).astype(np.int8)
    s0, s1 = np.random.default_rng(7).uniform(-0.2, 0.2, 2)      # what augment_pair draws from the same seed
    matrix = np.array([[1.0, s0], [s1, 1.0]])
    img_f, _ = augment.augment_pair(image, mask, np.random.default_rng(7), "shear", faithful=True)
    np.testing.assert_allclose(img_f, ndi.affine_transform(image, matrix, order=3, mode="reflect"), atol=1e-6)
    img_c, _ = augment.augment_pair(image, mask, np.random.default_rng(7), "shear")
    centre = np.array([h / 2, w / 2])
    np.testing.assert_allclose(img_c, ndi.affine_transform(image, matrix, offset=centre - matrix @ centre, order=1,
                                                           mode="reflect"), atol=1e-6)
    # the corner pixel stays put under the faithful shear only
    assert img_f[0, 0] == pytest.approx(image[0, 0], abs=1e-5)
    assert not np.allclose(img_f, img_c, atol=1e-3)


def test_faithful_cloud_batches_keep_soft_targets_within_0_1():
    """Cubic masks overshoot; the batches clip them so every backend's binary cross-entropy accepts them."""
    rng = np.random.default_rng(0)
    x = rng.random((6, 48, 64), dtype=np.float32)
    y = np.zeros((6, 48, 64), np.int8)
    y[:, 10:30, 15:50] = 1
    _, soft = augment.augment_pair(x[0], y[0], np.random.default_rng(3), "rotate", faithful=True)
    assert soft.min() < 0 or soft.max() > 1                  # augment_pair itself stays faithful
    _, yb = augment.CloudBatches(x, y, batch_size=6, aug_batch_size=32, seed=1, faithful=True)[0]
    assert yb.min() >= 0 and yb.max() <= 1 and not set(np.unique(yb)) <= {0, 1}
    y_ignore = y.copy()
    y_ignore[:, :4] = -1                                     # an ignore label: no clipping
    assert augment.CloudBatches(x, y_ignore, batch_size=6, aug_batch_size=8, faithful=True)[0][1].min() < 0


def test_cloud_batches_shape_and_binary_targets():
    x = np.random.default_rng(0).random((10, 32, 48), dtype=np.float32)
    y = (x > 0.5).astype(np.int8)
    ds = augment.CloudBatches(x, y, batch_size=4, aug_batch_size=4, seed=0)
    assert len(ds) == 3
    bx, by = ds[0]
    assert bx.shape == (8, 32, 48, 1) and by.shape == (8, 32, 48, 1)
    assert set(np.unique(by)) <= {0.0, 1.0}


def test_split_disjoint_no_duplicates_groups_kept():
    items = [f"f{i:03d}" for i in range(100)]
    groups = np.arange(100) // 10
    tr, va = split.split_groups(items, groups, (0.8, 0.2), seed=1)
    assert not set(tr) & set(va) and len(set(tr)) == len(tr) and len(tr) + len(va) == 100
    assert len(va) == 20
    gtr = {int(i[1:]) // 10 for i in tr}
    gva = {int(i[1:]) // 10 for i in va}
    assert not gtr & gva
    with pytest.raises(ValueError, match="duplicates"):
        split.split_groups(items + ["f000"], list(groups) + [0])


def test_faithful_resample_has_duplicates():
    drawn = split.faithful_resample(range(1000), seed=42)
    assert len(set(drawn)) < 700     # ≈ 63 % unique (1 − 1/e)


def test_group_by_time():
    t0 = dt.datetime(2023, 1, 1)
    times = [t0 + dt.timedelta(minutes=m) for m in (0, 1, 2, 60, 61, 300)]
    assert split.group_by_time(times, 5).tolist() == [0, 0, 0, 1, 1, 2]


def test_read_times_missing_date(tmp_path):
    p = tmp_path / "nodate.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(p)
    with pytest.raises(DataFileError, match="DATE-OBS"):
        split.read_times([p])


def test_generator_format_and_physics(tmp_path):
    from solarcnn.synthetic import get

    g = get("allsky_ir", seed=3, sequence_length=2)
    clear, cloudy = g.sample(0), g.sample(2)
    assert clear.label == "clear" and cloudy.label == "cloudy"
    for s in (clear, cloudy):
        assert s.data.shape == (512, 640) and s.data.dtype == np.int16
        assert 0 <= s.data.min() and s.data.max() <= 16383
    fov = g.fov_mask()
    r = np.hypot(*np.mgrid[0:512, 0:640] - np.array([256, 320])[:, None, None])
    night = next(i for i in range(0, 40, 2) if not g.sample(i).meta["day"])
    sky = g.sample(night).data.astype(float)
    # clear sky brightens toward the horizon
    assert sky[fov & (r < 40)].mean() < sky[fov & (r > 230) & (r < 280)].mean()
    # clouds are warmer than the clear sky around them
    truth = cloudy.extra["cloud_truth"]
    inner = fov & (r < 150)
    assert cloudy.data[truth & inner].mean() > cloudy.data[~truth & inner].mean()
    path = g.save(cloudy, tmp_path / g.filename(2))
    hdr = fits.getheader(path)
    assert hdr["SKYCOND"] == "CLOUDY" and hdr["BITDEPTH"] == 14 and "DATE-OBS" in hdr
    np.testing.assert_array_equal(fits.getdata(path), cloudy.data)
    np.testing.assert_array_equal(g.sample(2).data, cloudy.data)     # deterministic


def test_classifier_normalises_both_classes(tmp_path):
    from solarcnn.cirrus.data import build_synthetic, load_binned

    d = build_synthetic(tmp_path, n_frames=4, sequence_length=2, seed=0, masks=False)
    x, y, _ = load_binned(d["binned"])
    assert set(y.tolist()) == {0, 1} and x.max() <= 1.0
    xb, yb, _ = load_binned(d["binned"], normalize_clear=False)      # the original's bug
    assert xb[yb == 0].max() > 1000 and xb[yb == 1].max() <= 1.0


def test_load_binned_missing_label(tmp_path):
    from solarcnn.cirrus.data import load_binned

    p = tmp_path / "x_binned.fits"
    fits.PrimaryHDU(np.zeros((128, 160))).writeto(p)
    with pytest.raises(DataFileError) as err:
        load_binned([p])
    assert str(p) in str(err.value) and "SKYCOND" in str(err.value)


def test_build_synthetic_reuses_matching_files_and_rebuilds_stale_ones(tmp_path):
    import json

    from solarcnn.cirrus.data import build_synthetic
    from solarcnn.synthetic.allsky import VERSION

    d = build_synthetic(tmp_path, n_frames=4, sequence_length=2, seed=0, masks=True)
    assert len(d["raw"]) == 4 and len(d["binned"]) == 4 and len(d["masked"]) == 2
    assert fits.getheader(d["raw"][0])["GENVERS"] == VERSION
    stamp = json.loads((tmp_path / "dataset.json").read_text())
    assert stamp["version"] == VERSION and stamp["sequence_length"] == 2
    mtime = d["masked"][0].stat().st_mtime_ns
    build_synthetic(tmp_path, n_frames=4, sequence_length=2, seed=0, masks=True)     # same settings: kept
    assert d["masked"][0].stat().st_mtime_ns == mtime
    # a folder written by an older generator version: every frame and mask is made again
    stamp["version"] = VERSION - 1
    (tmp_path / "dataset.json").write_text(json.dumps(stamp))
    stale = tmp_path / "masked" / "lwir_s0009_f000_masked.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(stale)
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(d["binned"][1], overwrite=True)
    d2 = build_synthetic(tmp_path, n_frames=4, sequence_length=2, seed=0, masks=True)
    assert not stale.exists()
    assert fits.getdata(d2["binned"][1]).shape == (128, 160)
    assert json.loads((tmp_path / "dataset.json").read_text())["version"] == VERSION


def test_generator_window_physics_makes_otsu_truth_sensible():
    """Window physics (versions 2 and 3): the CIRRUS Otsu mask agrees with the simulation's clouds (not with v1)."""
    from solarcnn.cirrus.rebin import rebin
    from solarcnn.metrics import iou
    from solarcnn.synthetic import get

    scores = {}
    for name, kw in {"v3": {}, "v1": {"eps_zenith": (0.4, 0.65), "max_zenith_deg": 65}}.items():
        g = get("allsky_ir", seed=0, sequence_length=1, labels="cloudy", **kw)
        fov = g.fov_mask((128, 160))
        ys, ts = [], []
        for i in range(6):
            s = g.sample(i)
            ys.append(masks.generate_mask(s.data.astype(float)))
            ts.append(rebin(s.extra["cloud_truth"].astype(np.float32), (128, 160)) >= 0.5)
        scores[name] = iou(np.stack(ts).astype(np.int8), np.stack(ys), valid=fov[None], threshold=None)
    assert scores["v3"] > 0.8 and scores["v1"] < scores["v3"] - 0.1, scores


def test_generator_counts_never_underflow_on_a_cold_clear_night():
    """Version 3: the darkest sky the generator can make (268 K, zenith emissivity 0.15) stays far above 0 ADU;
    version 2's offset clipped it to a flat floor at 0, which broke the CIRRUS log-stretch masks."""
    from solarcnn.synthetic import get
    from solarcnn.synthetic.allsky import BIAS_ADU

    g = get("allsky_ir", seed=0, sequence_length=1, labels="clear", eps_zenith=(0.15, 0.15))
    nights = [s for s in (g.sample(i) for i in range(12)) if not s.meta["day"]]
    assert nights, "no night frame among the first 12 sequences"
    coldest = min(nights, key=lambda s: s.meta["t_amb"])
    sky = coldest.data[g.fov_mask()]
    assert sky.min() > BIAS_ADU + 500, (coldest.meta["t_amb"], sky.min())
    assert np.mean(sky == 0) == 0.0


def test_generator_rejects_bad_emissivity():
    from solarcnn.synthetic import get

    with pytest.raises(ValueError, match="eps_zenith"):
        get("allsky_ir", eps_zenith=(0.5, 1.2))


@pytest.mark.parametrize("kind", augment.KINDS)
def test_multichannel_augmentation_same_transform_every_channel(kind):
    rng0 = np.random.default_rng(5)
    img = rng0.random((32, 40)).astype(np.float32)
    mask = (img > 0.5).astype(np.int8)
    stack = np.stack([img, 2 * img, img + 1], axis=-1)
    out, m = augment.augment_pair(stack, mask, np.random.default_rng(11), kind)
    single, m1 = augment.augment_pair(img, mask, np.random.default_rng(11), kind)
    assert out.shape == (32, 40, 3) and set(np.unique(m)) <= {0, 1}
    np.testing.assert_array_equal(m, m1)
    np.testing.assert_allclose(out[..., 0], single, atol=1e-6)
    np.testing.assert_allclose(out[..., 1], 2 * single, atol=1e-5)


def test_cloud_batches_multichannel_and_bad_shapes():
    x = np.random.default_rng(0).random((6, 16, 24, 3)).astype(np.float32)
    y = (x[..., 0] > 0.5).astype(np.int8)
    xb, yb = augment.CloudBatches(x, y, batch_size=4, aug_batch_size=2, seed=0)[0]
    assert xb.shape == (6, 16, 24, 3) and yb.shape == (6, 16, 24, 1)
    with pytest.raises(ValueError, match=r"\(6, 16, 24, 3\)"):
        augment.CloudBatches(x, y[:, :8], batch_size=4)
