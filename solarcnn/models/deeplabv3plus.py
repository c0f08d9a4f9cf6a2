"""DeepLabv3+ with the modified aligned-Xception encoder: the MLPerf HPC DeepCAM network.

Introduced in notebook 05. A Keras 3 port of the MLPerf HPC v1.0+ reference
(`mlcommons/hpc` ``deepcam/src/deepCam/architecture/deeplab_xception.py``,
built there as ``DeepLabv3_plus(n_input=16, n_classes=3, os=16)``). At the
reference size (768 x 1152 x 16) the model has **56,454,720 trainable
parameters** and 76 BatchNorm layers; it outputs **logits** (no softmax).

Porting details handled here (see ``reference/deepcam.md`` section 13):

- stride-2 3x3 convolutions pad one pixel on every side, as PyTorch does
  (``ZeroPadding2D(1)`` + ``"valid"``), not Keras' asymmetric ``"same"``;
- ``ConvTranspose2d(k=3, s=2, p=1, output_padding=1)`` is a ``"valid"``
  `Conv2DTranspose` (2n + 1 pixels) cropped by one row and column at the
  top/left;
- BatchNorm ``epsilon=1e-5, momentum=0.9`` (PyTorch's 0.1 update weight);
- He-normal initialisation untruncated (PyTorch ``kaiming_normal_``), with a
  depthwise fan-in of 9; the layers the reference never re-initialises keep
  PyTorch's default uniform initialisation;
- the low-level skip is taken *after* a ReLU on the block-1 output (the
  reference's in-place ReLU aliases it);
- the ASPP's dilated 3x3 convolutions are `AtrousConv2D`: a plain Conv2D that skips the
  taps that can only see padding when the rate exceeds the feature map (same weights,
  same results; it matters at reduced input sizes only);
- the image-level ASPP branch (pool, 1x1 conv, trainable per-channel affine,
  ReLU) is broadcast to the feature-map size. The reference tiles a hard-coded
  48 x 72, which only works at 768 x 1152; broadcasting gives the same result
  there and also works at other sizes (a generalisation of the reference,
  with no effect on the parameter count).
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from .batchnorm import BatchNormalization  # Keras' layer; TensorFlow's fused kernel under TF

REFERENCE_INPUT_SHAPE = (768, 1152, 16)
REFERENCE_TRAINABLE_PARAMS = 56_454_720

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def _he_normal():
    # PyTorch kaiming_normal_(mode="fan_in", nonlinearity="relu"): untruncated, std sqrt(2 / fan_in).
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


def _torch_default():
    # PyTorch's default Conv / ConvTranspose init: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)).
    return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


@keras.saving.register_keras_serializable(package="solarcnn")
class TrainableAffine(layers.Layer):
    """Per-channel ``w * x + b`` (w = 1, b = 0 at start): the reference's stand-in for BatchNorm
    in the image-level ASPP branch, where the batch statistics of a 1x1 map are meaningless."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.scale = self.add_weight(shape=(channels,), initializer="ones", name="scale")
        self.offset = self.add_weight(shape=(channels,), initializer="zeros", name="offset")

    def call(self, x):
        return x * ops.cast(self.scale, x.dtype) + ops.cast(self.offset, x.dtype)


@keras.saving.register_keras_serializable(package="solarcnn")
class AtrousConv2D(layers.Conv2D):
    """A ``padding="same"`` dilated convolution that skips the kernel taps which can only see padding.

    With dilation r, the taps of a 3 x 3 kernel sit at offsets -r, 0, +r. When r is at least the feature
    map's height (or width), the off-centre rows (or columns) of taps fall outside the map for every output
    pixel and multiply zeros. This layer keeps the full kernel (same weights, same parameter count, same
    saved files) and convolves with the part that can touch the map: the same function, without the zero
    products. At the reference size the ASPP map is 48 x 72 and every tap is used; at reduced sizes (the
    course's tiny profile, the benchmark's quick size: a 4 x 6 map with rates 6, 12, 18) TensorFlow's CPU
    kernel otherwise spends most of the network's time on the padding (measured in ``benchmarks/RESULTS.md``).
    """

    def _live_slices(self, height, width):
        live = []
        for size, k, r in ((height, self.kernel_size[0], self.dilation_rate[0]),
                           (width, self.kernel_size[1], self.dilation_rate[1])):
            c = k // 2
            taps = [i for i in range(k) if size is None or abs((i - c) * r) < size]
            live.append((taps[0], taps[-1] + 1))
        return live

    def call(self, inputs):
        if self.padding != "same" or self.data_format != "channels_last" or \
                any(k % 2 == 0 for k in self.kernel_size) or any(s != 1 for s in self.strides):
            return super().call(inputs)
        (r0, r1), (c0, c1) = self._live_slices(inputs.shape[1], inputs.shape[2])
        if (r1 - r0, c1 - c0) == tuple(self.kernel_size):
            return super().call(inputs)
        kernel = self.kernel[r0:r1, c0:c1]
        dilation = (self.dilation_rate[0] if r1 - r0 > 1 else 1, self.dilation_rate[1] if c1 - c0 > 1 else 1)
        out = ops.conv(inputs, ops.cast(kernel, inputs.dtype), strides=1, padding="same",
                       dilation_rate=dilation, data_format="channels_last")
        if self.use_bias:
            out = out + ops.cast(self.bias, out.dtype)
        return self.activation(out) if self.activation is not None else out


def _width(channels: int, multiplier: float) -> int:
    if multiplier == 1.0:
        return channels
    return max(8, int(round(channels * multiplier / 8.0)) * 8)


class _Builder:
    """Holds the options shared by the block functions."""

    def __init__(self, width_multiplier: float, synchronized_bn: bool):
        self.w = width_multiplier
        self.sync = synchronized_bn

    def c(self, channels: int) -> int:
        return _width(channels, self.w)

    def bn(self, x, name):
        return BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, synchronized=self.sync,
                                         name=name)(x)

    def sep_conv(self, x, filters, *, stride=1, dilation=1, name):
        """``SeparableConv2d_same``: depthwise 3x3 (no bias) then pointwise 1x1 (no bias); no BN inside."""
        depth_init = keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / 9.0))  # PyTorch depthwise fan_in = 9
        if stride == 1:
            x = layers.DepthwiseConv2D(3, padding="same", dilation_rate=dilation, use_bias=False,
                                       depthwise_initializer=depth_init, name=f"{name}_depthwise")(x)
        else:
            x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
            x = layers.DepthwiseConv2D(3, strides=stride, padding="valid", use_bias=False,
                                       depthwise_initializer=depth_init, name=f"{name}_depthwise")(x)
        return layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=_he_normal(),
                             name=f"{name}_pointwise")(x)

    def block(self, x, in_filters, planes, reps, *, stride=1, dilation=1, end_with_relu=True, grow_first=True,
              is_last=False, name):
        """The reference ``Block`` (post-activation: sep -> BN -> ReLU, last ReLU dropped)."""
        if planes != in_filters or stride != 1:
            skip = x
            if stride != 1:
                # A 1x1 convolution with stride s reads every s-th pixel: subsample, then convolve (same
                # result and parameters; TF 2.21's oneDNN kernel for the gradient of a strided 1x1 conv
                # corrupts memory on CPU, this form avoids it).
                skip = layers.MaxPooling2D(1, strides=stride, name=f"{name}_skip_subsample")(skip)
            skip = layers.Conv2D(planes, 1, use_bias=False, kernel_initializer=_he_normal(),
                                 name=f"{name}_skip_conv")(skip)
            skip = self.bn(skip, f"{name}_skip_bn")
        else:
            skip = x
        widths = []
        if grow_first:
            widths.append(planes)
            widths += [planes] * (reps - 1)
        else:
            widths += [in_filters] * (reps - 1)
            widths.append(planes)
        h = x
        for i, f in enumerate(widths):
            h = self.sep_conv(h, f, dilation=dilation, name=f"{name}_sep{i + 1}")
            h = self.bn(h, f"{name}_bn{i + 1}")
            if i < len(widths) - 1:          # the reference removes the last ReLU of the main path
                h = layers.ReLU(name=f"{name}_relu{i + 1}")(h)
        if stride != 1:
            h = self.sep_conv(h, planes, stride=stride, name=f"{name}_sep_down")
        elif is_last:
            h = self.sep_conv(h, planes, name=f"{name}_sep_last")
        out = layers.Add(name=f"{name}_add")([h, skip])
        if end_with_relu:
            out = layers.ReLU(name=f"{name}_out_relu")(out)
        return out

    def transposed(self, x, filters, name, *, initializer=None):
        """PyTorch ``ConvTranspose2d(k3, s2, p1, output_padding 1)``: valid transpose conv + top/left crop."""
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="valid", use_bias=False,
                                   kernel_initializer=initializer or _torch_default(), name=f"{name}_convT")(x)
        return layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}_crop")(x)


def build_deeplabv3plus(input_shape=REFERENCE_INPUT_SHAPE, num_classes: int = 3, *, num_middle_blocks: int = 16,
                        width_multiplier: float = 1.0, synchronized_bn: bool = False,
                        name: str = "deeplabv3plus") -> keras.Model:
    """Build the DeepCAM DeepLabv3+ (modified aligned Xception, output stride 16).

    The defaults are the MLPerf HPC reference: 768 x 1152 x 16 input, 3 classes,
    16 middle-flow blocks, full widths -> 56,454,720 trainable parameters and
    logits of shape (batch, 768, 1152, 3). ``num_middle_blocks`` and
    ``width_multiplier`` shrink the network for CPU smoke runs (not the reference).

    Args:
        input_shape: ``(height, width, channels)``; height and width must be
            positive multiples of 16 (the encoder's output stride), e.g.
            ``(768, 1152, 16)`` or ``(96, 144, 16)``.
        num_classes: number of output classes (3: background, TC, AR).
        num_middle_blocks: number of 728-channel middle-flow blocks (16 in the reference).
        width_multiplier: scales every channel width (1.0 in the reference; rounded to multiples of 8 otherwise).
        synchronized_bn: use cross-replica BatchNorm under a distribution strategy. The reference uses
            per-GPU BN and averages the running statistics at each epoch end (False, the default).
        name: model name; layers are named ``<stage>_<op>``.

    Returns:
        A functional `keras.Model` mapping images to per-pixel logits.
    """
    from . import _checks

    height, width, channels = _checks.shape3(input_shape, "build_deeplabv3plus")
    num_classes = _checks.integer(num_classes, "num_classes", "build_deeplabv3plus")
    num_middle_blocks = _checks.integer(num_middle_blocks, "num_middle_blocks", "build_deeplabv3plus", minimum=0)
    width_multiplier = _checks.number(width_multiplier, "width_multiplier", "build_deeplabv3plus", low=0,
                                      low_open=True, high=None)
    synchronized_bn = _checks.flag(synchronized_bn, "synchronized_bn", "build_deeplabv3plus")
    if height % 16 or width % 16:
        raise ValueError("input height and width must be positive multiples of 16 (output stride 16); "
                         f"received input_shape={tuple(input_shape)!r}")
    if channels is None or channels <= 0:
        raise ValueError(f"input channels must be a positive integer; received input_shape={tuple(input_shape)!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; received {num_classes!r}")
    if num_middle_blocks < 0:
        raise ValueError(f"num_middle_blocks must be >= 0; received {num_middle_blocks!r}")
    if not width_multiplier > 0:
        raise ValueError(f"width_multiplier must be > 0; received {width_multiplier!r}")

    b = _Builder(float(width_multiplier), bool(synchronized_bn))
    c = b.c
    inputs = keras.Input(shape=(height, width, channels), name="fields")

    # --- Entry flow -------------------------------------------------------------------------------------
    x = layers.ZeroPadding2D(1, name="conv1_pad")(inputs)
    x = layers.Conv2D(c(32), 3, strides=2, padding="valid", use_bias=False, kernel_initializer=_he_normal(),
                      name="conv1")(x)
    x = b.bn(x, "bn1")
    x = layers.ReLU(name="relu1")(x)
    x = layers.Conv2D(c(64), 3, padding="same", use_bias=False, kernel_initializer=_he_normal(), name="conv2")(x)
    x = b.bn(x, "bn2")
    x = layers.ReLU(name="relu2")(x)
    x = b.block(x, c(64), c(128), 2, stride=2, end_with_relu=False, name="block1")
    # The reference applies an in-place ReLU here, so the skip *and* block2 see post-ReLU features.
    low_level = layers.ReLU(name="low_level_relu")(x)
    x = b.block(low_level, c(128), c(256), 2, stride=2, end_with_relu=True, name="block2")
    x = b.block(x, c(256), c(728), 2, stride=2, end_with_relu=True, is_last=True, name="block3")
    # --- Middle flow ------------------------------------------------------------------------------------
    for i in range(num_middle_blocks):
        x = b.block(x, c(728), c(728), 3, stride=1, dilation=1, name=f"block{4 + i}")
    # --- Exit flow (os 16: rates 1, 2) ------------------------------------------------------------------
    x = b.block(x, c(728), c(1024), 2, stride=1, dilation=1, end_with_relu=False, grow_first=False, is_last=True,
                name="block20")
    for i, f in ((3, 1536), (4, 1536), (5, 2048)):
        x = b.sep_conv(x, c(f), dilation=2, name=f"conv{i}")
        x = b.bn(x, f"bn{i}")
        x = layers.ReLU(name=f"relu{i}")(x)

    # --- ASPP (rates 1, 6, 12, 18) + image-level branch -------------------------------------------------
    branches = []
    for i, rate in enumerate((1, 6, 12, 18)):
        k = 1 if rate == 1 else 3
        y = AtrousConv2D(c(256), k, padding="same", dilation_rate=rate, use_bias=False,
                         kernel_initializer=_he_normal(), name=f"aspp{i + 1}_conv")(x)
        y = b.bn(y, f"aspp{i + 1}_bn")
        branches.append(layers.ReLU(name=f"aspp{i + 1}_relu")(y))
    fh, fw = height // 16, width // 16
    y = layers.GlobalAveragePooling2D(keepdims=True, name="image_pool")(x)
    y = layers.Conv2D(c(256), 1, use_bias=False, kernel_initializer=_torch_default(), name="image_conv")(y)
    y = TrainableAffine(name="image_affine")(y)
    y = layers.ReLU(name="image_relu")(y)
    # Reference: torch.tile(x, (1, 1, 48, 72)); broadcasting to the feature-map size is the same at 768 x 1152.
    y = layers.UpSampling2D(size=(fh, fw), interpolation="nearest", name="image_broadcast")(y)
    branches.append(y)
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = layers.Conv2D(c(256), 1, use_bias=False, kernel_initializer=_torch_default(), name="aspp_merge_conv")(x)
    x = b.bn(x, "aspp_merge_bn")
    x = layers.ReLU(name="aspp_merge_relu")(x)

    # --- Low-level projection ---------------------------------------------------------------------------
    low = layers.Conv2D(c(48), 1, use_bias=False, kernel_initializer=_torch_default(), name="low_level_conv")(
        low_level)
    low = b.bn(low, "low_level_bn")
    low = layers.ReLU(name="low_level_proj_relu")(low)

    # --- Decoder (DeconvUpsampler) ----------------------------------------------------------------------
    for i in (1, 2):
        x = b.transposed(x, c(256), f"deconv1_{i}")
        x = b.bn(x, f"deconv1_{i}_bn")
        x = layers.ReLU(name=f"deconv1_{i}_relu")(x)
    x = layers.Concatenate(name="decoder_concat")([x, low])
    for i in (1, 2):
        x = layers.Conv2D(c(256), 3, padding="same", use_bias=False, kernel_initializer=_torch_default(),
                          name=f"decoder_conv{i}")(x)
        x = b.bn(x, f"decoder_bn{i}")
        x = layers.ReLU(name=f"decoder_relu{i}")(x)
    bias_bound = 1.0 / math.sqrt(c(256))
    x = layers.Conv2D(c(256), 1, use_bias=True, kernel_initializer=_torch_default(),
                      bias_initializer=keras.initializers.RandomUniform(-bias_bound, bias_bound),
                      name="decoder_conv3")(x)
    x = b.transposed(x, c(256), "deconv2")
    x = b.bn(x, "deconv2_bn")
    x = layers.ReLU(name="deconv2_relu")(x)
    x = b.transposed(x, num_classes, "last_deconv")
    # float32 logits also under a mixed-precision policy
    outputs = layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
