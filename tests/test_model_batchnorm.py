"""`solarcnn.models.batchnorm.BatchNormalization` (TensorFlow's fused kernel) is Keras' BatchNormalization:
same outputs, gradients and moving statistics, in training and inference, float32 and mixed bfloat16."""
import numpy as np
import pytest

import keras

from solarcnn.models.batchnorm import BatchNormalization


def _pair(policy, shape=(4, 6, 5, 3), **kw):
    keras.mixed_precision.set_global_policy(policy)
    ours, theirs = BatchNormalization(momentum=0.9, epsilon=1e-5, **kw), \
        keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, **kw)
    ours.build(shape)
    theirs.build(shape)
    rng = np.random.default_rng(0)
    c = shape[-1]
    for layer in (ours, theirs):
        layer.moving_mean.assign(np.linspace(-0.5, 0.5, c).astype("float32"))
        layer.moving_variance.assign(np.linspace(0.5, 2.0, c).astype("float32"))
        if layer.scale:
            layer.gamma.assign(np.linspace(0.8, 1.3, c).astype("float32"))
        if layer.center:
            layer.beta.assign(np.linspace(-0.2, 0.3, c).astype("float32"))
    x = (rng.standard_normal(shape) * 2 + 1).astype("float32")
    return ours, theirs, x


@pytest.mark.parametrize("policy,tol", [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
@pytest.mark.parametrize("kw", [{}, {"center": False}, {"scale": False}])
@pytest.mark.parametrize("channels", [3, 16])
def test_fused_equals_keras_in_training_and_inference(policy, tol, kw, channels):
    import tensorflow as tf

    ours, theirs, x = _pair(policy, shape=(4, 6, 5, channels), **kw)
    assert ours._fused_ok(tf.constant(x, dtype=ours.compute_dtype), None) == \
        (policy == "float32" or channels >= 16), "bf16 uses the fused kernel from 16 channels on"
    for training in (False, True):
        outs, grads = [], []
        for layer in (ours, theirs):
            xt = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(xt)
                y = layer(xt, training=training)
                loss = tf.reduce_sum(tf.cast(y, tf.float32) * np.linspace(-1, 1, y.shape[-1]).astype("float32"))
            gx, *gw = tape.gradient(loss, [xt] + layer.trainable_variables)
            assert y.dtype == layer.compute_dtype
            outs.append(np.asarray(tf.cast(y, tf.float32)))
            grads.append([np.asarray(g) for g in [gx] + gw])
        np.testing.assert_allclose(outs[0], outs[1], rtol=tol, atol=tol)
        for a, b in zip(*grads):       # gamma/beta gradients are sums over the 120 pixels: rounding
            np.testing.assert_allclose(a, b, rtol=tol, atol=10 * tol * max(1.0, np.abs(b).max()))
        for name in ("moving_mean", "moving_variance"):
            np.testing.assert_allclose(np.asarray(getattr(ours, name)), np.asarray(getattr(theirs, name)),
                                       rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(ours.moving_mean), np.linspace(-0.5, 0.5, channels)), "stats updated"


def test_falls_back_to_keras_for_other_shapes_and_serialises():
    ours, theirs, _ = _pair("float32", shape=(4, 3))
    x = np.random.default_rng(1).standard_normal((4, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(ours(x, training=True)), np.asarray(theirs(x, training=True)),
                               rtol=1e-6, atol=1e-6)
    config = keras.saving.serialize_keras_object(ours)
    again = keras.saving.deserialize_keras_object(config)
    assert type(again) is BatchNormalization and again.get_config() == ours.get_config()
    assert isinstance(again, keras.layers.BatchNormalization)


def test_a_single_pixel_batch_keeps_a_finite_variance():
    ours, theirs, _ = _pair("float32", shape=(1, 1, 1, 3))
    x = np.ones((1, 1, 1, 3), "float32")
    ours(x, training=True)
    theirs(x, training=True)
    assert np.isfinite(np.asarray(ours.moving_variance)).all()
    np.testing.assert_allclose(np.asarray(ours.moving_variance), np.asarray(theirs.moving_variance), rtol=1e-6)
