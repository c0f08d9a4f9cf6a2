"""build_slic: the faithful parameter counts (spec slic.md §3.3, §11), shapes, sharing, save/load, errors."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from solarcnn.models import build_slic  # noqa: E402
from solarcnn.models.slic import slic_trainable_count  # noqa: E402


def _trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _non_trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.non_trainable_weights))


@pytest.mark.slow
def test_faithful_parameter_count_at_256():
    model = build_slic()
    assert _trainable(model) == 155_711_685
    assert _non_trainable(model) == 3_840
    assert model.count_params() == 155_715_525
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(convs) == 8 and len(bns) == 8
    assert len(model.get_layer("slic_conv8")._inbound_nodes) == 3  # 10 conv applications
    assert model.get_layer("slic_flatten").output.shape[1] == 32_768
    del model


@pytest.mark.parametrize("size,expected", [(128, 55_048_389), (64, 29_882_565)])
def test_trainable_count_formula(size, expected):
    assert slic_trainable_count(size) == expected
    assert _trainable(build_slic((size, size, 1))) == expected


def test_deduplicated_variant_count():
    # 10 separate conv+BN: 160,433,349 at 256; at 64 the same difference (2 × (512·512·9 + 512 + 1024)).
    diff = 160_433_349 - 155_711_685
    assert _trainable(build_slic((64, 64, 1), share_last_conv=False)) == 29_882_565 + diff


def test_batchnorm_settings_and_logits_output():
    model = build_slic((64, 64, 1), width_multiplier=0.125, dense_units=32)
    bn = model.get_layer("slic_bn1")
    assert bn.epsilon == 1e-5 and bn.momentum == 0.9
    x = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 1)).astype("float32")
    logits = np.asarray(model(x, training=False))
    assert logits.shape == (3, 5)
    probs = np.asarray(keras.ops.softmax(logits, axis=-1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert model.layers[-1].activation.__name__ == "linear"


def test_shared_bn_updated_three_times_per_forward_pass():
    model = build_slic((32, 32, 1), width_multiplier=0.0625, dense_units=8)
    bn8 = model.get_layer("slic_bn8")
    conv8 = model.get_layer("slic_conv8")
    x = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 1)).astype("float32")
    # inputs of the three applications of conv8, captured from a training-mode forward pass
    inputs = [model.get_layer("slic_relu7").output, model.get_layer("slic_pool4").output,
              model.get_layer("slic_relu9").output]
    probe = keras.Model(model.input, inputs)
    acts = [np.asarray(a) for a in probe(x, training=True)]
    mean0 = np.asarray(bn8.moving_mean).copy()
    var0 = np.asarray(bn8.moving_variance).copy()
    model(x, training=True)
    # manual: three successive momentum-0.9 updates with each application's batch statistics
    mean, var = mean0, var0
    for a in acts:
        z = np.asarray(conv8(a))
        m, v = z.mean(axis=(0, 1, 2)), z.var(axis=(0, 1, 2))
        mean = 0.9 * mean + 0.1 * m
        var = 0.9 * var + 0.1 * v
    np.testing.assert_allclose(np.asarray(bn8.moving_mean), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn8.moving_variance), var, rtol=1e-4, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = build_slic((32, 32, 1), width_multiplier=0.0625, dense_units=8)
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    path = tmp_path / "slic.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
    assert _trainable(loaded) == _trainable(model)


@pytest.mark.parametrize("kwargs,match", [
    ({"input_shape": (100, 100, 1)}, r"multiples of 32; received \(100, 100, 1\)"),
    ({"input_shape": (64, 64)}, r"received \(64, 64\)"),
    ({"num_classes": 1}, "received 1"),
    ({"width_multiplier": 0}, "received 0"),
    ({"dropout": 1.0}, "received 1.0"),
    ({"dense_units": 0}, "received 0"),
])
def test_bad_arguments_show_received_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_slic(**kwargs)
