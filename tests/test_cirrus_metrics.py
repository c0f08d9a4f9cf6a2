"""Segmentation metrics on hand-computed cases."""
import numpy as np
import pytest

from solarcnn.metrics import iou, pixel_scores

Y = [[1, 1, 1, 1], [0, 0, 0, 1]]
P = [[1, 1, 1, 0], [1, 0, 0, 0]]


def test_micro_iou_is_not_the_per_image_mean():
    assert iou(Y, P, threshold=None) == pytest.approx(0.5)
    assert iou(Y, P, threshold=None, per_image=True).mean() == pytest.approx(0.375)


def test_precision_recall_accuracy():
    s = pixel_scores(Y, P, threshold=None)
    assert s["precision"] == pytest.approx(0.75)
    assert s["recall"] == pytest.approx(0.6)
    assert s["accuracy"] == pytest.approx(5 / 8)
    assert s["iou"] == pytest.approx(0.5)


def test_ignore_mask_removes_pixels():
    valid = [[1, 1, 1, 1], [1, 1, 1, 0]]      # the missed cloud pixel of image 2 is undefined
    # I = 3, Σy = 4, Σŷ = 4 → 3 / 5
    assert iou(Y, P, valid=valid, threshold=None) == pytest.approx(0.6)
    assert pixel_scores(Y, P, valid=valid, threshold=None)["n_pixels"] == 7


def test_probabilities_are_thresholded():
    probs = np.array([[0.9, 0.8, 0.7, 0.2], [0.6, 0.1, 0.0, 0.5]])
    assert iou(Y, probs) == pytest.approx(0.5)            # 0.5 is not > 0.5


def test_errors_are_clear():
    with pytest.raises(ValueError, match="same shape"):
        iou([1, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="binary"):
        iou([255, 100], [1, 0], threshold=None)
    with pytest.raises(ValueError, match="threshold"):
        iou([1, 0], [0.3, 0.9], threshold=None)


def test_masked_bce_ignores_pixels():
    import keras

    from solarcnn.training.losses import masked_binary_crossentropy

    loss = masked_binary_crossentropy()
    y = np.array([[1.0, 0.0, -1.0]], np.float32)
    p = np.array([[0.9, 0.2, 0.01]], np.float32)
    expected = -(np.log(0.9) + np.log(0.8)) / 2
    assert float(keras.ops.convert_to_numpy(loss(y, p))) == pytest.approx(expected, rel=1e-5)
    logits = np.log(p / (1 - p))
    got = float(keras.ops.convert_to_numpy(masked_binary_crossentropy(from_logits=True)(y, logits)))
    assert got == pytest.approx(expected, rel=1e-4)
