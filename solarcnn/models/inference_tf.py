"""TensorFlow half of `solarcnn.models.inference.predictor`: the forward pass as a frozen graph.

Why: TensorFlow's oneDNN convolution (``_MklNativeConv2D``) keeps its filter in oneDNN's blocked
layout between calls only when the filter is a graph constant; when it is read from a variable, as in
``model.predict_on_batch``, it is re-laid out on every call. On the benchmark's DeepLabv3+ (2 x 64 x 96 x
16, float32, 2-core Intel Xeon) that made the convolutions take 49.6 ms of a 68.5 ms call, against
23.9 ms with constant filters.

How the frozen graph runs (each step measured on the same machine):

- The weights' casts to the compute dtype (``mixed_bfloat16``) are done once, here, into new constants.
- The graph runs in a `tf.compat.v1.Session` of its own, with Grappler's constant folding **off**. With it
  on (the default, and always so for a `tf.function`), a Conv2D whose filter and bias are constants was no
  longer fused with its bias and activation: a two-convolution ELU model took 5.0 ms per bf16 call against
  2.9 ms with folding off, and the CIRRUS U-Net's separate ELU and ReLU ops took 18 ms of its 62 ms of op
  time. The session's setting touches no other graph of the process.
- Called directly, the pruned function that ``convert_variables_to_constants_v2`` returns added about 15 ms
  a call on that model (19.7 against 5.0 ms from inside a `tf.function`); in the session, the benchmark
  models' frozen calls took from 0.6 ms more (Slic, fp32) to 9 ms less (ResNet34, bf16: 24.8 against 34.0 ms)
  than from a `tf.function`.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def _fold_constant_casts(graph_def) -> int:
    """Replace every ``Cast`` of a constant (through ``Identity`` nodes) by the cast constant; returns how many."""
    nodes = {n.name: n for n in graph_def.node}

    def source(name):
        n = nodes[name.split(":")[0]]
        while n.op == "Identity" and len(n.input) == 1 and not n.input[0].startswith("^"):
            n = nodes[n.input[0].split(":")[0]]
        return n

    count = 0
    for n in graph_def.node:
        if n.op != "Cast" or len(n.input) != 1 or n.input[0].startswith("^"):
            continue
        src = source(n.input[0])
        if src.op != "Const":
            continue
        dst = tf.as_dtype(n.attr["DstT"].type)
        value = tf.make_ndarray(src.attr["value"].tensor).astype(dst.as_numpy_dtype)
        n.op = "Const"
        del n.input[:]
        for key in list(n.attr):
            del n.attr[key]
        n.attr["dtype"].type = dst.as_datatype_enum
        n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value, dtype=dst))
        count += 1
    return count


def frozen_forward(model, batch_shape, dtype="float32"):
    """``fn(x) -> numpy`` computing ``model(x, training=False)`` with the weights frozen into the graph.

    Args:
        model: a built Keras model (TensorFlow backend).
        batch_shape: the input shape with ``None`` for the batch axis, e.g. ``(None, 64, 64, 1)``.
        dtype: the input dtype.

    A model with several outputs gives a list of arrays, one output an array.
    """
    spec = tf.TensorSpec(tuple(batch_shape), tf.as_dtype(dtype))
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    _fold_constant_casts(graph_def)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    rewrite = rewriter_config_pb2.RewriterConfig(constant_folding=rewriter_config_pb2.RewriterConfig.OFF)
    config = tf.compat.v1.ConfigProto(graph_options=tf.compat.v1.GraphOptions(rewrite_options=rewrite))
    session = tf.compat.v1.Session(graph=graph, config=config)
    feed = graph.get_tensor_by_name(frozen.inputs[0].name)
    fetches = [graph.get_tensor_by_name(t.name) for t in frozen.outputs]
    np_dtype = spec.dtype.as_numpy_dtype

    def forward(x):
        out = session.run(fetches, {feed: np.asarray(x, dtype=np_dtype)})
        return out[0] if len(out) == 1 else out

    forward.session = session   # kept alive with the function; closed when it is collected
    return forward
