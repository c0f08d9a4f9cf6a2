"""Counted (not guessed) model FLOPs per sample.

Convention (the usual one for model-FLOPs utilisation, MFU):

* one multiply-accumulate (MAC) = 2 FLOPs;
* only the layers that do matrix work are counted: Conv1D/2D/3D (incl. grouped),
  DepthwiseConv2D, SeparableConv2D, Conv2DTranspose and Dense. Bias adds,
  BatchNorm, activations, pooling, resizing and concatenation are left out (they
  are < 1 % of the total for these networks and are memory-bound anyway);
* a shared layer is counted once per call (Slic applies ``layer8`` three times);
* training FLOPs per sample = 3 x forward (forward + backward w.r.t. activations and
  weights). `torch_flops` measures forward and forward+backward on the PyTorch
  reference with ``torch.utils.flop_counter.FlopCounterMode`` as a cross-check.

`keras_flops` walks the graph of a functional Keras model node by node (so it works on
any backend without tracing), using the static shapes of each call's inputs and outputs.
"""
from __future__ import annotations

import math

TRAIN_FLOPS_FACTOR = 3


def _shape(t) -> tuple:
    return tuple(t.shape)


def _per_sample(shape: tuple) -> int:
    """Product of the non-batch dimensions (the batch dimension may be None)."""
    dims = shape[1:]
    if any(d is None for d in dims):
        raise ValueError(f"keras_flops needs a model with a fully static input shape; got a tensor of shape {shape}")
    return math.prod(dims)


def _layer_call_flops(layer, in_shape: tuple, out_shape: tuple) -> int:
    """Forward FLOPs of one call of `layer` for one sample (0 for layers without matrix work).

    A subclass of a Keras layer is counted as that layer (e.g. DeepLabv3+'s `AtrousConv2D` as the Conv2D
    it is: model FLOPs belong to the architecture, not to how a kernel skips work)."""
    known = {"Dense", "EinsumDense", "SeparableConv2D", "SeparableConv1D", "DepthwiseConv2D", "DepthwiseConv1D",
             "Conv2DTranspose", "Conv1DTranspose", "Conv3DTranspose", "Conv1D", "Conv2D", "Conv3D"}
    cls = next((k.__name__ for k in type(layer).__mro__ if k.__name__ in known), type(layer).__name__)
    if cls == "Dense":
        kernel = tuple(layer.kernel.shape)
        rows = _per_sample(in_shape) // kernel[0]
        return 2 * rows * kernel[0] * kernel[1]
    if cls == "EinsumDense":
        # out elements x contracted size = total MACs for the common 'abc,cd->abd' forms
        kernel = tuple(layer.kernel.shape)
        contracted = math.prod(kernel) // max(1, math.prod(d for d in out_shape[-1:] if d))
        return 2 * _per_sample(out_shape) * contracted
    if cls == "SeparableConv2D" or cls == "SeparableConv1D":
        dk = tuple(layer.depthwise_kernel.shape)   # (kh, kw, cin, mult)
        pk = tuple(layer.pointwise_kernel.shape)   # (1, 1, cin*mult, cout)
        spatial = _per_sample(out_shape) // out_shape[-1] if layer.data_format == "channels_last" else \
            _per_sample(out_shape) // out_shape[1]
        return 2 * spatial * (math.prod(dk) + math.prod(pk))
    if cls in ("DepthwiseConv2D", "DepthwiseConv1D"):
        k = tuple(layer.kernel.shape)              # (kh, kw, cin, mult)
        cout = out_shape[-1] if layer.data_format == "channels_last" else out_shape[1]
        spatial = _per_sample(out_shape) // cout
        return 2 * spatial * math.prod(k)
    if cls in ("Conv2DTranspose", "Conv1DTranspose", "Conv3DTranspose"):
        k = tuple(layer.kernel.shape)              # (kh, kw, cout, cin): every input pixel scatters k*k*cout
        cin = in_shape[-1] if layer.data_format == "channels_last" else in_shape[1]
        spatial_in = _per_sample(in_shape) // cin
        return 2 * spatial_in * math.prod(k)
    if cls in ("Conv1D", "Conv2D", "Conv3D"):
        k = tuple(layer.kernel.shape)              # (kh, kw, cin/groups, cout)
        cout = out_shape[-1] if layer.data_format == "channels_last" else out_shape[1]
        spatial_out = _per_sample(out_shape) // cout
        return 2 * spatial_out * math.prod(k)
    return 0


def keras_flops(model, *, by_layer: bool = False):
    """Forward FLOPs per sample of a functional (or nested functional) Keras model.

    Args:
        model: a built `keras.Model` whose input shape is static apart from the batch.
        by_layer: also return a dict ``{layer name: FLOPs summed over its calls}``.

    Returns:
        int, or ``(int, dict)`` when ``by_layer``.
    """
    per_layer: dict[str, int] = {}
    total = _walk(model, per_layer)
    return (total, per_layer) if by_layer else total


def _model_nodes(model):
    """(layer, node) for every call made inside `model`'s own graph."""
    nodes_by_depth = getattr(model, "_nodes_by_depth", None)
    if nodes_by_depth is None:
        raise TypeError(f"keras_flops needs a functional model; got {type(model).__name__}")
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                yield node.operation, node


def _walk(model, per_layer: dict) -> int:
    total = 0
    for layer, node in _model_nodes(model):
        if hasattr(layer, "_nodes_by_depth") and getattr(layer, "_nodes_by_depth", None):
            sub = _walk(layer, per_layer)     # nested functional model: count its own graph per call
            total += sub
            continue
        ins = [t for t in node.input_tensors]
        outs = list(node.outputs)
        if not ins or not outs:
            continue
        f = _layer_call_flops(layer, _shape(ins[0]), _shape(outs[0]))
        if f:
            per_layer[layer.name] = per_layer.get(layer.name, 0) + f
            total += f
    return total


def torch_flops(model, example, *, backward: bool = True) -> dict:
    """FLOPs of the PyTorch reference for `example` (a batch), per sample.

    Returns ``{"forward": int, "train": int or None}``; ``train`` is forward + backward
    of ``output.float().sum()`` as counted by ``torch.utils.flop_counter.FlopCounterMode``.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    batch = example.shape[0]
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(example)
    fwd = fc.get_total_flops()
    train = None
    if backward:
        model.train()
        x = example.clone().requires_grad_(False)
        with FlopCounterMode(display=False) as fc2:
            model(x).float().sum().backward()
        train = fc2.get_total_flops()
        model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {"forward": fwd // batch, "train": None if train is None else train // batch}
