"""`solarcnn.models.inference`: BatchNorm folding and the compiled predictor give the model's own output.

The BatchNorm layers get non-trivial statistics first (a fresh layer is the identity map, under which a
wrong fold could still pass).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from solarcnn.models import build_deeplabv3plus, build_flare_model, build_slic
from solarcnn.models.inference import Predictor, fold_batch_norm, predictor


def _randomise_bn(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.3, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.3, 3.0, n).astype("float32"))
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            if layer.center:
                layer.beta.assign(rng.normal(0, 0.3, n).astype("float32"))
    return model


def _bn_count(model):
    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def _small_models():
    return {
        "slic": build_slic(input_shape=(64, 64, 1), width_multiplier=0.125, dense_units=16),
        "slic_shared": build_slic(input_shape=(64, 64, 1), width_multiplier=0.125, dense_units=16,
                                  share_last_conv=True),
        "deeplab": build_deeplabv3plus(input_shape=(32, 48, 4), num_middle_blocks=1, width_multiplier=0.125),
        "resnet34": build_flare_model("resnet34", input_shape=(64, 64, 1), width=0.125),
    }


@pytest.mark.parametrize("name", ["slic", "slic_shared", "deeplab", "resnet34"])
def test_fold_batch_norm_keeps_the_function_and_removes_the_bn(name):
    model = _randomise_bn(_small_models()[name])
    x = np.random.default_rng(1).standard_normal((2,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    before = [np.array(w) for w in model.get_weights()]
    folded = fold_batch_norm(model)
    want = np.asarray(model(x, training=False))
    got = np.asarray(folded(x, training=False))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert _bn_count(model) > 0
    assert _bn_count(folded) < _bn_count(model)
    if name in ("slic", "slic_shared", "resnet34"):     # every BN there follows a convolution
        assert _bn_count(folded) == 0
    # the trained model is untouched
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, np.array(b))


def test_fold_skips_bn_that_cannot_be_folded():
    inp = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="c")(inp)
    bn_after_relu = keras.layers.BatchNormalization(name="bn_after_relu")(keras.layers.ReLU()(conv))
    conv_act = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c_act")(bn_after_relu)
    bn_act = keras.layers.BatchNormalization(name="bn_act")(conv_act)
    branch = keras.layers.Conv2D(4, 1, name="branch")(bn_act)
    bn_shared_input = keras.layers.BatchNormalization(name="bn_shared_input")(branch)
    out = keras.layers.Add()([branch, bn_shared_input])         # `branch` is read twice
    model = _randomise_bn(keras.Model(inp, out))
    folded = fold_batch_norm(model)
    assert {layer.name for layer in folded.layers if isinstance(layer, keras.layers.BatchNormalization)} == \
        {"bn_after_relu", "bn_act", "bn_shared_input"}
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(folded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_fold_covers_depthwise_separable_transpose_and_dense():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(inp)
    x = keras.layers.BatchNormalization(name="bn_dw")(x)
    x = keras.layers.SeparableConv2D(5, 3, padding="same", name="sep")(x)
    x = keras.layers.BatchNormalization(name="bn_sep")(x)
    x = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="tr")(x)
    x = keras.layers.BatchNormalization(name="bn_tr")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, use_bias=False, name="dense")(x)
    out = keras.layers.BatchNormalization(name="bn_dense", center=False)(x)
    model = _randomise_bn(keras.Model(inp, out))
    folded = fold_batch_norm(model)
    assert _bn_count(folded) == 0
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 3)).astype("float32")
    want = np.asarray(model(x, training=False))
    np.testing.assert_allclose(np.asarray(folded(x)), want, rtol=1e-4, atol=1e-5)


def test_fold_refuses_what_is_not_a_built_functional_model():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Sub"):
        fold_batch_norm(Sub())
    with pytest.raises(ValueError, match="str"):
        predictor("model.keras")


def test_predictor_equals_predict_on_batch_any_batch_size():
    model = _randomise_bn(_small_models()["resnet34"])
    p = predictor(model)
    assert isinstance(p, Predictor) and p.path == "frozen graph"      # the test suite runs TensorFlow
    rng = np.random.default_rng(2)
    for n in (1, 3):
        x = rng.standard_normal((n, 64, 64, 1)).astype("float32")
        want = model.predict_on_batch(x)
        np.testing.assert_allclose(p(x), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_predictor_in_mixed_bfloat16_and_with_two_outputs():
    """The frozen graph's weight casts are done once (no Cast of a constant is left), the result is the
    model's, and a two-output model gives a list of two arrays."""
    from solarcnn.models import build_cirrus_unet
    from solarcnn.models.inference_tf import _fold_constant_casts
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_cirrus_unet((32, 40, 1), channels=(8, 16, 32))
        x = np.random.default_rng(5).standard_normal((2, 32, 40, 1)).astype("float32")
        want = model.predict_on_batch(x)
        np.testing.assert_allclose(predictor(model)(x), want, atol=2e-2)
        spec = tf.TensorSpec((None, 32, 40, 1), tf.float32)
        gd = convert_variables_to_constants_v2(
            tf.function(lambda t: model(t, training=False)).get_concrete_function(spec)).graph.as_graph_def()
        casts = sum(n.op == "Cast" for n in gd.node)
        folded = _fold_constant_casts(gd)
        assert folded >= 12, f"the 7 kernels and biases are cast to bfloat16 in the graph; folded {folded}"
        assert sum(n.op == "Cast" for n in gd.node) == casts - folded   # the input and output casts stay
    finally:
        keras.mixed_precision.set_global_policy("float32")
    inp = keras.Input((8,))
    two = keras.Model(inp, [keras.layers.Dense(3)(inp), keras.layers.Dense(2)(inp)])
    z = np.random.default_rng(6).standard_normal((4, 8)).astype("float32")
    got = predictor(two)(z)
    assert isinstance(got, list) and [g.shape for g in got] == [(4, 3), (4, 2)]
    for g, w in zip(got, two.predict_on_batch(z)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_predictor_keeps_the_weights_it_was_made_with():
    model = _randomise_bn(_small_models()["slic"])
    x = np.random.default_rng(3).standard_normal((2, 64, 64, 1)).astype("float32")
    p = predictor(model)
    first = p(x)
    model.layers[-1].bias.assign(model.layers[-1].bias + 1.0)
    np.testing.assert_array_equal(p(x), first)
    np.testing.assert_allclose(predictor(model)(x), first + 1.0, rtol=1e-4, atol=1e-4)


def test_predictor_with_an_example_keeps_the_faster_path():
    model = _randomise_bn(_small_models()["slic"])
    x = np.random.default_rng(4).standard_normal((2, 64, 64, 1)).astype("float32")
    p = predictor(model, example=x)
    assert set(p.timings) == {"frozen graph", "predict_on_batch"}
    assert p.path == min(p.timings, key=p.timings.get)
    np.testing.assert_allclose(p(x), model.predict_on_batch(x), rtol=1e-4, atol=1e-5)


JAX_CHECK = """
import numpy as np, keras
from solarcnn.models import build_flare_model
from solarcnn.models.inference import predictor
m = build_flare_model("resnet34", input_shape=(64, 64, 1), width=0.125)
rng = np.random.default_rng(0)
for l in m.layers:
    if isinstance(l, keras.layers.BatchNormalization):
        l.moving_variance.assign(rng.uniform(0.3, 3.0, l.moving_variance.shape[0]).astype("float32"))
x = rng.standard_normal((2, 64, 64, 1)).astype("float32")
p = predictor(m)
want = m.predict_on_batch(x)
m.predict_on_batch(x)            # Keras' own step donates buffers: the predictor must hold copies
np.testing.assert_allclose(p(x), want, rtol=1e-4, atol=1e-5)
print("path", p.path)
"""


def test_predictor_on_jax():
    out = subprocess.run([sys.executable, "-c", JAX_CHECK], env={**os.environ, "KERAS_BACKEND": "jax"},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "path jax.jit" in out.stdout
