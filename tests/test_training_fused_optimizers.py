"""`solarcnn.training.optimizers.Adam` / `SGD` (TensorFlow's fused kernels) are Keras' Adam / SGD: the same
weights and slots after several steps, in float32 and mixed bfloat16, alone and under `tf.distribute`."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from solarcnn.training import optimizers as opt_mod


def _model():
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv"),  # a bias before BN gets only noise
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, name="head"),
    ])


def _train(make_opt, policy, steps=4):
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(1)
        m = _model()
        m.compile(optimizer=make_opt(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(0)
        for _ in range(steps):
            x = rng.standard_normal((6, 8, 8, 2)).astype("float32")
            y = rng.integers(0, 3, 6)
            m.train_on_batch(x, y)
        slots = [keras.ops.convert_to_numpy(v) for v in m.optimizer.variables]
        return m.get_weights(), slots
    finally:
        keras.mixed_precision.set_global_policy("float32")


CASES = {
    "adam": (lambda: opt_mod.Adam(1e-2, epsilon=1e-6), lambda: keras.optimizers.Adam(1e-2, epsilon=1e-6),
             "apply_adam"),
    "adam_decay": (lambda: opt_mod.Adam(1e-2, weight_decay=0.1), lambda: keras.optimizers.Adam(1e-2, weight_decay=0.1),
                   "apply_adam"),
    "sgd": (lambda: opt_mod.SGD(0.05, momentum=0.9), lambda: keras.optimizers.SGD(0.05, momentum=0.9),
            "apply_keras_momentum"),
    "sgd_nesterov": (lambda: opt_mod.SGD(0.05, momentum=0.9, nesterov=True),
                     lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True), "apply_keras_momentum"),
}


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_optimizer_equals_keras(case, policy, monkeypatch):
    if keras.backend.backend() != "tensorflow":
        pytest.fail("this test is about the TensorFlow kernels; run it under the TensorFlow backend")
    from solarcnn.training import optimizers_tf

    ours, theirs, fn = CASES[case]
    calls = []
    real = getattr(optimizers_tf, fn)
    monkeypatch.setattr(optimizers_tf, fn, lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    w_ours, s_ours = _train(ours, policy)
    w_keras, s_keras = _train(theirs, policy)
    assert calls, f"{case}: the fused kernel was not used"
    assert len(w_ours) == len(w_keras) and len(s_ours) == len(s_keras)
    for a, b in zip(w_ours + s_ours, w_keras + s_keras):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fallbacks_are_keras_code(monkeypatch):
    """AMSGrad, SGD without momentum and sparse gradients never reach the fused kernels."""
    from solarcnn.training import optimizers_tf

    def boom(*a, **k):
        raise AssertionError("fused kernel used")

    for fn in ("apply_adam", "apply_keras_momentum"):
        monkeypatch.setattr(optimizers_tf, fn, boom)
    for ours, theirs in [(lambda: opt_mod.Adam(1e-2, amsgrad=True), lambda: keras.optimizers.Adam(1e-2, amsgrad=True)),
                         (lambda: opt_mod.SGD(0.05), lambda: keras.optimizers.SGD(0.05))]:
        w_ours, _ = _train(ours, "float32", steps=2)
        w_keras, _ = _train(theirs, "float32", steps=2)
        for a, b in zip(w_ours, w_keras):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not opt_mod._fused_ok(type("Sparse", (), {"indices": None})(), keras.Variable(np.zeros(2, "float32")))
    assert not opt_mod._fused_ok(np.zeros(2), keras.Variable(np.zeros(2, "float16")))


def test_fused_optimizers_serialise():
    for o in (opt_mod.Adam(3e-4, beta_1=0.8), opt_mod.SGD(0.1, momentum=0.5, nesterov=True)):
        back = keras.optimizers.deserialize(keras.optimizers.serialize(o))
        assert type(back) is type(o) and back.get_config() == o.get_config()


def test_fused_adam_under_mirrored_strategy():
    """Inside `Strategy.extended.update` the kernels get the replica's variable: two CPU replicas, same result."""
    code = textwrap.dedent("""
        import os
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import numpy as np, tensorflow as tf, keras
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from solarcnn.training.optimizers import Adam
        def run(make):
            strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
            with strategy.scope():
                keras.utils.set_random_seed(3)
                m = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Dense(2)])
                m.compile(optimizer=make(), loss="mse")
            rng = np.random.default_rng(0)
            x, y = rng.standard_normal((8, 5)).astype("float32"), rng.standard_normal((8, 2)).astype("float32")
            m.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
            return m.get_weights()
        a, b = run(lambda: Adam(1e-2)), run(lambda: keras.optimizers.Adam(1e-2))
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
        print("MIRRORED-OK")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "MIRRORED-OK" in r.stdout, r.stderr[-3000:]
