"""DeepCAM DeepLabv3+: reference parameter count and shapes; small inputs; porting traps; bad arguments."""
import numpy as np
import pytest

import keras
from solarcnn.models import build_deeplabv3plus


def test_reference_size_count_and_shapes():
    m = build_deeplabv3plus()
    trainable = sum(int(np.prod(w.shape)) for w in m.trainable_weights)
    assert trainable == 56_454_720
    assert m.count_params() == 56_552_480
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in m.layers) == 76
    assert m.output_shape == (None, 768, 1152, 3)
    shapes = {"relu1": (384, 576, 32), "block1_add": (192, 288, 128), "block3_out_relu": (48, 72, 728),
              "relu5": (48, 72, 2048), "deconv2_relu": (384, 576, 256)}
    for name, shape in shapes.items():
        assert tuple(m.get_layer(name).output.shape[1:]) == shape, name


def test_small_input_runs_and_low_level_is_post_relu():
    m = build_deeplabv3plus((32, 48, 16), num_middle_blocks=1, width_multiplier=0.125)
    x = np.random.default_rng(0).normal(size=(2, 32, 48, 16)).astype("float32")
    assert m.predict(x, verbose=0).shape == (2, 32, 48, 3)
    low = keras.Model(m.input, m.get_layer("low_level_relu").output).predict(x, verbose=0)
    assert low.min() >= 0.0


def test_padding_and_transposed_crop_traps():
    # stride-2 3x3 conv on an 8x8 ramp: PyTorch pads (1, 1); ZeroPadding2D(1)+valid reads pixels 0, 2, 4, 6
    ramp = np.arange(64, dtype="float32").reshape(1, 8, 8, 1)
    k = np.zeros((3, 3, 1, 1), "float32")
    k[1, 1] = 1.0                                              # centre tap: output = input at the sample points
    conv = keras.layers.Conv2D(1, 3, strides=2, padding="valid", use_bias=False)
    y = conv(keras.layers.ZeroPadding2D(1)(ramp))
    conv.set_weights([k])
    y = keras.ops.convert_to_numpy(conv(keras.layers.ZeroPadding2D(1)(ramp)))[0, ..., 0]
    np.testing.assert_array_equal(y, ramp[0, ::2, ::2, 0])
    same = keras.layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False)
    same(ramp)
    same.set_weights([k])
    # "same" samples pixels 1, 3, 5, 7
    assert not np.array_equal(keras.ops.convert_to_numpy(same(ramp))[0, ..., 0], y)
    # ConvTranspose2d(k3, s2, p1, output_padding 1) on 4x4 -> 8x8: valid (9x9) then crop top/left
    x = np.random.default_rng(1).normal(size=(1, 4, 4, 1)).astype("float32")
    kt = np.random.default_rng(2).normal(size=(3, 3)).astype("float32")
    full = np.zeros((9, 9), "float32")                         # scatter definition of the transposed conv
    for i in range(4):
        for j in range(4):
            full[2 * i:2 * i + 3, 2 * j:2 * j + 3] += x[0, i, j, 0] * kt
    layer = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="valid", use_bias=False)
    layer(x)
    layer.set_weights([kt[:, :, None, None]])
    out = keras.ops.convert_to_numpy(keras.layers.Cropping2D(((1, 0), (1, 0)))(layer(x)))[0, ..., 0]
    np.testing.assert_allclose(out, full[1:, 1:], rtol=1e-5, atol=1e-5)   # torch: full[p:p + 2n]


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_shape=(100, 1152, 16)), r"multiples of 16.*\(100, 1152, 16\)"),
    (dict(input_shape=(768, 1152)), r"received \(768, 1152\)"),
    (dict(num_classes=0), "received 0"),
    (dict(num_middle_blocks=-1), "received -1"),
    (dict(width_multiplier=0), "received 0"),
])
def test_bad_arguments_show_received_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_deeplabv3plus(**kwargs)


@pytest.mark.parametrize("height,width,rate", [(4, 6, 18), (4, 6, 6), (6, 9, 6), (4, 6, 3), (12, 18, 12)])
def test_atrous_conv_skips_only_padding_taps(height, width, rate):
    """AtrousConv2D = Conv2D with the same weights (values and gradients) while dropping taps that see padding."""
    from solarcnn.models.deeplabv3plus import AtrousConv2D

    x = np.random.default_rng(rate).standard_normal((2, height, width, 4)).astype("float32")
    fast = AtrousConv2D(3, 3, padding="same", dilation_rate=rate, use_bias=True)
    plain = keras.layers.Conv2D(3, 3, padding="same", dilation_rate=rate, use_bias=True)
    fast.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(fast.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fast(x)), keras.ops.convert_to_numpy(plain(x)),
                               rtol=1e-5, atol=1e-5)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        grads = []
        for layer in (fast, plain):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x) ** 2)
            grads.append(tape.gradient(loss, layer.kernel).numpy())
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-4)
    (r0, r1), (c0, c1) = fast._live_slices(height, width)
    assert (r1 - r0 == 1) == (rate >= height) and (c1 - c0 == 1) == (rate >= width)
