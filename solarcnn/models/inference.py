"""Inference copies of trained models: BatchNorm folded into the convolution before it.

In inference a BatchNormalization layer is a fixed per-channel affine map, ``y = s * x + t`` with
``s = gamma / sqrt(var + eps)`` and ``t = beta - mean * s``. When it directly follows a convolution (or a
dense layer) whose output nothing else reads, the map can be moved into that layer's weights:
``W' = W * s`` (per output channel) and ``b' = b * s + t``. The network computes the same function with
one pass over each activation fewer, and the backends' fused convolution kernels (TensorFlow's oneDNN
``_FusedConv2D``, XLA's fusions) then apply bias and ReLU in the same pass. This is what deployment
tool-chains do (TensorFlow Lite, ONNX Runtime, ``torch.ao`` fusion). Measured on the benchmark models
in ``benchmarks/RESULTS.md``.

Only inference changes: `fold_batch_norm` returns a new model for ``predict``; train the original.
"""
from __future__ import annotations

import numpy as np
import keras

# Layers whose output channels are the last axis of their kernel (and of their output).
_LAST_AXIS_OUT = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


def _foldable_kind(layer) -> str | None:
    """Which kernel layout `layer` has, or None when BatchNorm cannot be folded into it."""
    if getattr(layer, "activation", None) not in (None, keras.activations.linear):
        return None
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return None
    if isinstance(layer, keras.layers.SeparableConv2D):
        return "separable"
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, (keras.layers.Conv2DTranspose, keras.layers.Conv1DTranspose,
                          keras.layers.Conv3DTranspose)):
        return "transpose"
    if isinstance(layer, _LAST_AXIS_OUT):
        return "last"
    return None


def _bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """The inference map of BatchNormalization layer `bn` as ``(scale, shift)`` in float64."""
    mean = np.asarray(keras.ops.convert_to_numpy(bn.moving_mean), dtype=np.float64)
    var = np.asarray(keras.ops.convert_to_numpy(bn.moving_variance), dtype=np.float64)
    gamma = np.asarray(keras.ops.convert_to_numpy(bn.gamma), dtype=np.float64) if bn.scale else 1.0
    beta = np.asarray(keras.ops.convert_to_numpy(bn.beta), dtype=np.float64) if bn.center else 0.0
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale * np.ones_like(mean), beta - mean * scale


def _folded_weights(layer, kind, scale, shift) -> dict[str, np.ndarray]:
    """New kernel(s) and bias of `layer` with the affine map ``scale * y + shift`` moved into them."""
    def num(v):
        return np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)

    bias = num(layer.bias) if layer.use_bias else 0.0
    if kind == "separable":
        return {"depthwise_kernel": num(layer.depthwise_kernel),
                "pointwise_kernel": num(layer.pointwise_kernel) * scale, "bias": bias * scale + shift}
    kernel = num(layer.kernel)
    if kind == "depthwise":            # (kh, kw, c_in, multiplier); output channel c * multiplier + m
        kernel = kernel * scale.reshape(kernel.shape[-2:])
    elif kind == "transpose":          # (..., c_out, c_in)
        kernel = kernel * scale[:, None]
    else:                              # (..., c_out)
        kernel = kernel * scale
    return {"kernel": kernel, "bias": bias * scale + shift}


def _pairs(model) -> dict[int, tuple]:
    """``{id(producer): (producer, bn)}`` for every BatchNormalization `bn` of `model` that can be folded
    into the layer `producer` before it.

    Folding needs: BatchNormalization over the last axis; every call of it reads an output of the same
    foldable layer; and every output of that layer (every call of a shared layer) is read by this
    BatchNormalization alone and is not a model output."""
    consumers: dict[int, list] = {}
    bn_inputs: dict[int, list] = {}
    bn_ndim: dict[int, set] = {}
    for depth_nodes in model._nodes_by_depth.values():
        for node in depth_nodes:
            for t in node.input_tensors:
                producer = t._keras_history.operation
                consumers.setdefault(id(producer), []).append(node.operation)
                if isinstance(node.operation, keras.layers.BatchNormalization):
                    bn_inputs.setdefault(id(node.operation), []).append(producer)
                    bn_ndim.setdefault(id(node.operation), set()).add(len(t.shape))
    outputs_of = {id(t._keras_history.operation) for t in keras.tree.flatten(model.outputs)}
    by_id = {id(layer): layer for layer in model.layers}
    pairs = {}
    for bn_id, producers in bn_inputs.items():
        bn = by_id.get(bn_id)
        if bn is None or len({id(p) for p in producers}) != 1:
            continue
        producer = producers[0]
        ndim = bn_ndim[bn_id].pop() if len(bn_ndim[bn_id]) == 1 else None
        axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
        if axis is None or ndim is None or axis not in (-1, ndim - 1):
            continue
        if _foldable_kind(producer) is None or id(producer) in outputs_of:
            continue
        if any(c is not bn for c in consumers.get(id(producer), [])):
            continue
        pairs[id(producer)] = (producer, bn)
    return pairs


def fold_batch_norm(model: keras.Model) -> keras.Model:
    """An inference copy of functional `model` with each foldable BatchNormalization merged into the
    layer before it.

    A BatchNormalization is folded when it normalises the last (channel) axis and directly follows a
    ``Conv*D``, ``DepthwiseConv2D``, ``SeparableConv2D``, ``Conv*DTranspose`` or ``Dense`` layer that has
    no activation of its own and whose output only it reads. That layer is replaced by a copy with a bias
    and the folded weights; the BatchNormalization disappears. Every other layer is shared with `model`
    (no weights are copied), so fold again after training changes the weights.

    The result computes the function of ``model(x, training=False)`` up to float rounding (float32: about
    1e-6 relative), under the model's own dtype policies (``mixed_bfloat16`` included).

    Args:
        model: a functional (or Sequential) `keras.Model`, built.

    Returns:
        A `keras.Model` with the same inputs and outputs and ``model.name + "_folded"`` as its name; `model`
        itself is unchanged. A model with nothing to fold comes back as an equivalent copy.

    Raises:
        ValueError: `model` is not a built functional or Sequential model.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth") or not model.built:
        raise ValueError("fold_batch_norm needs a built functional or Sequential keras.Model; received "
                         f"{type(model).__name__} {getattr(model, 'name', model)!r}")
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    producers = _pairs(model)
    folded_bns = {id(bn) for _, bn in producers.values()}
    replaced = {}

    def clone(layer):
        if id(layer) not in producers:
            return layer
        config = {**layer.get_config(), "use_bias": True}
        new = layer.__class__.from_config(config)
        replaced[id(layer)] = new
        return new

    def call(layer, *args, **kwargs):
        if id(layer) in folded_bns:
            return args[0]
        return layer(*args, **kwargs)

    folded = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for pid, (layer, bn) in producers.items():
        new = replaced[pid]
        weights = _folded_weights(layer, _foldable_kind(layer), *_bn_affine(bn))
        for attr, value in weights.items():
            var = getattr(new, attr)
            var.assign(np.broadcast_to(value, var.shape).astype(keras.backend.standardize_dtype(var.dtype)))
    return keras.Model(folded.input, folded.output, name=f"{model.name}_folded")


class Predictor:
    """A compiled inference function (see `predictor`): ``predictor(x) -> numpy``.

    Attributes:
        path: which compiled path runs (``"frozen graph"``, ``"jax.jit"``, ``"predict_on_batch"``, ``"eager"``).
        timings: seconds per call of each path tried when `predictor` was given an example batch
            (median of 7 interleaved calls after three warm-up calls each), else empty.
    """

    def __init__(self, fn, path, timings=None):
        self._fn = fn
        self.path = path
        self.timings = dict(timings or {})

    def __call__(self, x):
        return self._fn(x)

    def __repr__(self):
        return f"Predictor(path={self.path!r})"


def _median_call_s(fns: dict, x, calls=7) -> dict:
    """Median seconds per call of each function, the calls interleaved (a change of load hits all of them)."""
    import time

    for fn in fns.values():     # warm-up: tracing, oneDNN's primitive and weight-layout caches
        fn(x)
        fn(x)
        fn(x)
    times = {name: [] for name in fns}
    for _ in range(calls):
        for name, fn in fns.items():
            s = time.perf_counter()
            fn(x)
            times[name].append(time.perf_counter() - s)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def predictor(model: keras.Model, *, fold: bool | None = None, example=None) -> Predictor:
    """A compiled inference function of `model`: ``fn(x) -> numpy array``, the value of
    ``model.predict_on_batch(x)`` up to float rounding.

    The weights are read once, when `predictor` is called. Under TensorFlow they become constants of a
    frozen graph (`inference_tf`): oneDNN then keeps its weight layouts between calls instead of
    re-laying them out on every call, as it does in ``predict_on_batch`` (measured in
    ``benchmarks/RESULTS.md``). Under JAX the folded network runs under ``jax.jit`` with copies of the
    weights; under PyTorch it is the eager call.

    Whether the compiled path is faster depends on the model and the machine (on the 2-core Intel CI
    machine it was 1.2-1.6x faster in float32 and 2.6-3.3x in bfloat16 for the three BatchNorm
    networks, and 4-30 % slower for the CIRRUS U-Net, which has no BatchNorm). Give `example` to decide
    by measurement: both paths are timed on it and the faster one is kept (``.path``, ``.timings``).

    Make a new predictor after the weights change; the old one keeps the weights it was made with.

    Args:
        model: a built functional or Sequential `keras.Model` with one input.
        fold: fold BatchNormalization into the layer before it first (`fold_batch_norm`). Default: on
            TensorFlow (faster there; under mixed precision it also removes BatchNormalization's float32
            casts), off on JAX (XLA:CPU ran the folded Slic network 1.5x slower).
        example: a batch to time the candidate paths on; None keeps the backend's compiled path.

    Returns:
        A `Predictor`: call it with a NumPy batch of the model's input shape (any batch size).

    Raises:
        ValueError: `model` has more than one input, or is not a built functional model.
    """
    if not isinstance(model, keras.Model) or not getattr(model, "built", False):
        raise ValueError(f"predictor needs a built keras.Model; received {type(model).__name__}")
    if len(model.inputs) != 1:
        raise ValueError(f"predictor supports models with one input; {model.name!r} has {len(model.inputs)}")
    backend = keras.backend.backend()
    if fold is None:
        fold = backend == "tensorflow"
    net = fold_batch_norm(model) if fold else model
    batch_shape = (None,) + tuple(model.inputs[0].shape[1:])
    dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
    if backend == "tensorflow":
        from .inference_tf import frozen_forward

        fn, path = frozen_forward(net, batch_shape, dtype), "frozen graph"
    elif backend == "jax":
        fn, path = _jax_forward(net, dtype), "jax.jit"
    else:
        fn, path = (lambda x: keras.ops.convert_to_numpy(net(np.asarray(x, dtype=dtype), training=False))), "eager"
    if example is None:
        return Predictor(fn, path)
    def plain(x):
        return keras.ops.convert_to_numpy(model.predict_on_batch(np.asarray(x, dtype=dtype)))

    timings = _median_call_s({path: fn, "predict_on_batch": plain}, example)
    if timings["predict_on_batch"] < timings[path]:
        return Predictor(plain, "predict_on_batch", timings)
    return Predictor(fn, path, timings)


def _jax_forward(net, dtype):
    import jax

    # Copies: Keras' own JAX train and predict steps donate the variables' buffers.
    trainable = [jax.numpy.array(v.value, copy=True) for v in net.trainable_variables]
    non_trainable = [jax.numpy.array(v.value, copy=True) for v in net.non_trainable_variables]

    @jax.jit
    def run(tv, ntv, x):
        out, _ = net.stateless_call(tv, ntv, x, training=False)
        return out

    return lambda x: np.asarray(run(trainable, non_trainable, np.asarray(x, dtype=dtype)))
