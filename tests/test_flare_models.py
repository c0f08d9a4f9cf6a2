"""Flare-track models and metrics: parameter counts, adaptive pooling, TSS/HSS2."""
import warnings

import numpy as np
import pytest

from solarcnn.errors import DataFileError
from solarcnn.metrics import confusion_2x2, hss, tss
from solarcnn.metrics.forecast import hss_from_counts, predict_labels, tss_from_counts
from solarcnn.models import build_flare_model
from solarcnn.models.flare import (AdaptiveAveragePooling2D, adaptive_pool_bins, non_trainable_count,
                                   trainable_count)


@pytest.mark.slow
@pytest.mark.parametrize("backbone,trainable,frozen", [("alexnet", 57_012_064, 0), ("vgg16", 134_268_768, 0),
                                                       ("resnet34", 21_285_728, 17_024)])
def test_reference_parameter_counts(backbone, trainable, frozen):
    m = build_flare_model(backbone)
    assert trainable_count(m) == trainable
    assert non_trainable_count(m) == frozen
    assert m.count_params() == trainable + frozen
    assert m.output_shape == (None, 2)
    assert m.get_layer(f"flare_{backbone}_first_conv").count_params() == 30


def test_alexnet_feature_sizes():
    m = build_flare_model("alexnet")
    shapes = [m.get_layer(f"flare_alexnet_{n}").output.shape[1:] for n in ("conv1", "pool1", "pool2", "pool5",
                                                                          "avgpool")]
    assert shapes == [(127, 127, 64), (63, 63, 64), (31, 31, 192), (15, 15, 256), (6, 6, 256)]


def test_adaptive_pool_bins_and_values():
    assert adaptive_pool_bins(15, 6) == [(0, 3), (2, 5), (5, 8), (7, 10), (10, 13), (12, 15)]
    assert adaptive_pool_bins(16, 7) == [(0, 3), (2, 5), (4, 7), (6, 10), (9, 12), (11, 14), (13, 16)]
    ramp = np.arange(15, dtype="float32")
    x = (ramp[:, None] * 100 + ramp[None, :])[None, :, :, None]
    y = np.asarray(AdaptiveAveragePooling2D(6)(x))
    assert y.shape == (1, 6, 6, 1)
    # output bin 1 = mean of input rows/cols 2..4
    assert y[0, 1, 1, 0] == pytest.approx(3 * 100 + 3)
    assert y[0, 3, 0, 0] == pytest.approx(np.mean([7, 8, 9]) * 100 + 1)


def test_small_models_and_input_errors():
    m = build_flare_model("alexnet", input_shape=(64, 64, 1), fc_units=16, head_init="he")
    assert m(np.zeros((2, 64, 64, 1), "float32")).shape == (2, 2)
    with pytest.raises(ValueError, match="received 'vgg19'"):
        build_flare_model("vgg19")
    with pytest.raises(ValueError, match=r"received input_shape=\(32, 32, 1\)"):
        build_flare_model("alexnet", input_shape=(32, 32, 1))
    with pytest.raises(ValueError, match=r"\(512, 512, 3\)"):
        build_flare_model("alexnet", input_shape=(512, 512, 3))


def test_weights_file_errors(tmp_path):
    with pytest.raises(DataFileError, match="weights file not found"):
        build_flare_model("resnet34", input_shape=(64, 64, 1), weights=tmp_path / "missing.weights.h5")
    with pytest.raises(ValueError, match="downloads no weights"):
        build_flare_model("resnet34", input_shape=(64, 64, 1), weights="imagenet")
    small = build_flare_model("alexnet", input_shape=(64, 64, 1), fc_units=8)
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    again = build_flare_model("alexnet", input_shape=(64, 64, 1), fc_units=8, weights=path)
    np.testing.assert_array_equal(again.get_weights()[0], small.get_weights()[0])
    with pytest.raises(DataFileError, match="weights do not fit"):
        build_flare_model("alexnet", input_shape=(64, 64, 1), fc_units=16, weights=path)


def _labels(tp, fn, fp, tn):
    y = [1] * tp + [1] * fn + [0] * fp + [0] * tn
    p = [1] * tp + [0] * fn + [1] * fp + [0] * tn
    return np.array(y), np.array(p)


@pytest.mark.parametrize("tp,fn,fp,tn,tss_v,hss_v", [(3, 1, 2, 4, 0.416667, 0.4), (2, 1, 1, 6, 0.523810, 0.523810)])
def test_tss_hss_hand_computed(tp, fn, fp, tn, tss_v, hss_v):
    y, p = _labels(tp, fn, fp, tn)
    assert confusion_2x2(y, p) == (tn, fp, fn, tp)
    assert tss(y, p) == pytest.approx(tss_v, abs=1e-6)
    assert hss(y, p) == pytest.approx(hss_v, abs=1e-6)


def test_degenerate_matrices_warn_not_nan():
    y, p = _labels(0, 5, 0, 5)          # no predicted positives
    assert tss(y, p) == 0.0
    assert hss(y, p) == 0.0
    y, p = _labels(0, 0, 2, 8)          # no actual positives: detection rate taken as 0
    with pytest.warns(RuntimeWarning, match="no actual positives"):
        assert tss(y, p) == pytest.approx(-0.2)
    assert hss(y, p) == 0.0             # 2*(0 - 0) / (0 + 2*10)
    y, p = _labels(0, 0, 0, 10)         # one class, predicted perfectly: HSS2 0/0
    with pytest.warns(RuntimeWarning, match="HSS2 is undefined"):
        assert hss(y, p) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(hss(y, p, zero_division=float("nan")))
        assert tss_from_counts(0, 0, 0, 0) == 0.0
    with pytest.warns(RuntimeWarning, match="no actual negatives"):
        assert tss_from_counts(0, 0, 1, 3) == pytest.approx(0.75)
    assert hss_from_counts(0, 0, 1, 3, warn=False) == 0.0


def test_metric_input_errors():
    with pytest.raises(ValueError, match="0/1 labels"):
        tss([0, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="same length"):
        hss([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="apply softmax"):
        predict_labels([0.2, 1.7])
    assert predict_labels([0.49, 0.5, 0.9]).tolist() == [0, 1, 1]    # threshold rule: 0.5 is a flare


def _resnet34_trainable(width):
    """Hand count of the ResNet34 flare model: added conv, stem, [3, 4, 6, 3] basic blocks, 2-class head."""
    ch = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
    n = 30 + 7 * 7 * 3 * ch[0] + 2 * ch[0]                      # added conv; stem conv + BN (gamma, beta)
    cin = ch[0]
    for s, (f, blocks) in enumerate(zip(ch, (3, 4, 6, 3))):
        for b in range(blocks):
            n += 9 * cin * f + 2 * f + 9 * f * f + 2 * f
            if s > 0 and b == 0:
                n += cin * f + 2 * f                               # 1x1 stride-2 projection + BN
            cin = f
    return n + ch[3] * 2 + 2


def test_width_multiplier():
    assert _resnet34_trainable(1.0) == 21_285_728                 # the formula reproduces the paper's count
    m = build_flare_model("resnet34", input_shape=(96, 96, 1), width=0.125)
    assert trainable_count(m) == _resnet34_trainable(0.125)
    assert m.get_layer("flare_resnet34_stem_conv").output.shape[-1] == 8
    assert m.get_layer("flare_resnet34_layer4_block2_out").output.shape[1:] == (3, 3, 64)
    assert m.get_layer("flare_resnet34_first_conv").count_params() == 30   # the added layer is never scaled
    a = build_flare_model("alexnet", input_shape=(64, 64, 1), fc_units=8, width=0.25)
    assert a.get_layer("flare_alexnet_conv1").output.shape[-1] == 16
    assert a.get_layer("flare_alexnet_conv3").output.shape[-1] == 96
    for bad in (0, -1, 5.0, "narrow", True):
        with pytest.raises(ValueError, match=f"received {bad!r}"):
            build_flare_model("resnet34", input_shape=(64, 64, 1), width=bad)
