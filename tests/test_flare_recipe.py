"""Flare-track recipe: oversampling, weighted loss, class weights, one-cycle schedule, best-epoch rule."""
import numpy as np
import pytest

from solarcnn.flare.recipe import (FlareSequence, OneCycleScheduler, TorchSGD, WeightedCrossEntropy, apply_transform,
                                   class_weights, is_better, one_cycle, oversample_plan, rotate_nearest,
                                   weighted_mean_loss)


def test_one_cycle_reference_values():
    T, mx = 86_800, 1e-4
    lr, m = one_cycle(0, T, mx)
    assert lr == pytest.approx(4e-6) and m == pytest.approx(0.95)
    lr, m = one_cycle(26_039, T, mx)
    assert lr == pytest.approx(1e-4) and m == pytest.approx(0.85)
    lr, m = one_cycle(43_400, T, mx)
    assert lr == pytest.approx(8.117e-5, rel=1e-3) and m == pytest.approx(0.8688, abs=1e-4)
    lr, m = one_cycle(86_799, T, mx)
    assert lr == pytest.approx(4e-10) and m == pytest.approx(0.95)
    assert one_cycle(10, T, mx, cycle_momentum=False)[1] is None
    with pytest.raises(ValueError, match="received 86800"):
        one_cycle(T, T, mx)


def test_fold1_class_weights_and_sizes():
    w_nf, w_fl = class_weights(42_195, 6_666)
    assert (round(w_nf, 4), round(w_fl, 4)) == (0.2401, 0.7599)
    labels = np.r_[np.zeros(42_195, int), np.ones(6_666, int)]
    plan = oversample_plan(labels)
    assert len(plan) == 111_054
    assert int(np.ceil(len(plan) / 64)) == 1_736
    kinds = {t for _, t in plan}
    assert kinds == {"none", "hflip", "vflip", "rotate", "choice"}


def test_weighted_loss_divides_by_weight_sum():
    # labels [FL, NF, NF], w = (NF 0.25, FL 0.75), per-sample losses [1, 2, 4] -> 1.8
    assert weighted_mean_loss([1, 2, 4], [1, 0, 0], (0.25, 0.75)) == pytest.approx(1.8)
    # the Keras loss on logits gives the same weighting
    logits = np.array([[0.3, -1.2], [2.0, 0.1], [-0.5, 0.7]], "float32")
    y = np.array([1, 0, 0])
    ce = -np.log(np.exp(logits[np.arange(3), y]) / np.exp(logits).sum(1))
    want = weighted_mean_loss(ce, y, (0.25, 0.75))
    got = float(WeightedCrossEntropy((0.25, 0.75))(y, logits))
    assert got == pytest.approx(want, rel=1e-5)
    assert got != pytest.approx(float(np.mean(np.array([0.75, 0.25, 0.25]) * ce)), rel=1e-3)


def test_best_epoch_rule():
    assert is_better(0.52, 0.385, 0.50, 0.40)
    assert not is_better(0.52, 0.37, 0.50, 0.40)
    assert not is_better(0.50, 0.45, 0.50, 0.40)
    assert is_better(0.51, 0.38, 0.50, 0.40)          # a drop of exactly 0.02 is allowed


def test_transforms():
    img = np.arange(12).reshape(3, 4)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(apply_transform(img, "hflip", rng), img[:, ::-1])
    np.testing.assert_array_equal(apply_transform(img, "vflip", rng), img[::-1])
    np.testing.assert_array_equal(rotate_nearest(img, 0.0), img)
    sq = np.zeros((9, 9))
    sq[4, 8] = 1
    assert rotate_nearest(sq, 90.0)[0, 4] == 1 or rotate_nearest(sq, 90.0)[8, 4] == 1
    r = rotate_nearest(np.ones((20, 20)), 5.0)
    assert r[0, 0] == 0 and r[10, 10] == 1               # corners filled with 0, no expansion
    with pytest.raises(ValueError, match="unknown transform 'blur'"):
        apply_transform(img, "blur", rng)


def test_sequence_batches_and_training_step():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (10, 64, 64), dtype=np.uint8)
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    seq = FlareSequence(x, y, batch_size=8, seed=1)
    assert len(seq.plan) == 4 * 2 + 2 * 8 and len(seq) == 3
    xb, yb = seq[0]
    assert xb.shape == (8, 64, 64, 1) and xb.dtype == np.float32 and 0 <= xb.min() and xb.max() <= 1
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        FlareSequence(x, y[:9])
    from solarcnn.models import build_flare_model

    m = build_flare_model("alexnet", input_shape=(64, 64, 1), fc_units=8, head_init="he")
    m.compile(TorchSGD(0.01), loss=WeightedCrossEntropy(class_weights(8, 2)))
    cb = OneCycleScheduler(2 * len(seq), 0.01)
    m.fit(seq, epochs=2, verbose=0, callbacks=[cb])
    assert len(cb.history["lr"]) == 6
    assert float(m.optimizer.momentum_var.numpy()) == pytest.approx(cb.history["momentum"][-1], rel=1e-6)


def test_torch_sgd_matches_numpy_reference():
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    params = [w.astype(float) for w in m.get_weights()]
    opt = TorchSGD(learning_rate=0.1, momentum=0.0, weight_decay=0.01)
    m.compile(opt, loss=WeightedCrossEntropy([0.25, 0.75]))
    cb = OneCycleScheduler(10, 0.1)
    m.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False, callbacks=[cb])
    bufs, wts = [None, None], np.array([0.25, 0.75])
    for step in range(3):
        lr, mu = cb.history["lr"][step], cb.history["momentum"][step]
        z = x @ params[0] + params[1]
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        wi = wts[y]
        dz = (p - np.eye(2)[y]) * wi[:, None] / wi.sum()
        for k, g in enumerate([x.T @ dz, dz.sum(0)]):
            d = g + 0.01 * params[k]
            bufs[k] = d if bufs[k] is None else mu * bufs[k] + d
            params[k] = params[k] - lr * bufs[k]
    for got, want in zip(m.get_weights(), params):
        np.testing.assert_allclose(got, want, atol=1e-6)
