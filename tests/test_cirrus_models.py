"""CIRRUS and CloudSegNet builders: parameter counts at the reference sizes, shapes, errors, optimiser."""
import numpy as np
import pytest

from solarcnn.models import build_cirrus_classifier, build_cirrus_unet, build_cloudsegnet, build_double_conv_unet


def test_cirrus_unet_reference_params_and_range():
    m = build_cirrus_unet()
    assert m.count_params() == 2_103_297
    out = m.predict(np.random.default_rng(0).random((2, 128, 160, 1), dtype=np.float32), verbose=0)
    assert out.shape == (2, 128, 160, 1)
    assert out.min() >= 0 and out.max() <= 1
    assert m.get_layer("cirrus_unet_dec1_conv").activation.__name__ == "elu"
    assert m.get_layer("cirrus_unet_enc1_conv").activation.__name__ == "relu"


def test_double_conv_unet_reference_params_and_deepest_map():
    m = build_double_conv_unet()
    assert m.count_params() == 14_861_185
    enc = sum(l.count_params() for l in m.layers if "_down" in l.name)
    assert enc == 4_684_224
    assert tuple(m.get_layer("double_conv_unet_down4_pool").output.shape[1:]) == (8, 10, 512)
    assert m.get_layer("double_conv_unet_head").activation.__name__ == "linear"   # logits


def test_cloudsegnet_reference_params_and_shapes():
    m = build_cloudsegnet()
    assert m.count_params() == 4_929
    assert tuple(m.get_layer("cloudsegnet_enc3_pool").output.shape[1:]) == (38, 38, 8)
    assert tuple(m.output.shape[1:]) == (300, 300, 1)
    padded = build_cloudsegnet((128, 160, 1), pad_to_fit=True)
    assert tuple(padded.output.shape[1:]) == (128, 160, 1)
    assert padded.count_params() == 4_929 - 2 * 9 * 16   # one input channel instead of three


def test_cloudsegnet_optimizer_is_keras2_adadelta():
    from solarcnn.models.cloudsegnet import binarize, cloudsegnet_optimizer

    opt = cloudsegnet_optimizer()
    assert float(opt.learning_rate) == pytest.approx(1.0)
    assert opt.rho == pytest.approx(0.95)
    assert binarize(np.array([0.5, 0.5001])).tolist() == [0, 1]


def test_small_unets_train_shapes():
    m = build_cirrus_unet((32, 48, 1), channels=(4, 8, 16), dropout=0.2)
    assert tuple(m.output.shape[1:]) == (32, 48, 1)
    d = build_double_conv_unet((32, 48, 1), channels=(4, 8, 8, 8))
    assert tuple(d.output.shape[1:]) == (32, 48, 1)


def test_classifier_shape_and_logits():
    m = build_cirrus_classifier((128, 160, 1), filters=(16, 16))
    out = m.predict(np.zeros((2, 128, 160, 1), np.float32), verbose=0)
    assert out.shape == (2, 2)


@pytest.mark.parametrize("builder,kwargs,needle", [
    (build_cirrus_unet, {"input_shape": (130, 160, 1)}, "(130, 160, 1)"),
    (build_cirrus_unet, {"channels": ()}, "channels=()"),
    (build_cirrus_unet, {"dropout": 1.5}, "dropout=1.5"),
    (build_double_conv_unet, {"input_shape": (128, 152, 1)}, "divisible by 2**4 = 16"),
    (build_cloudsegnet, {"input_shape": (128, 160, 3)}, "≡ 4 (mod 8)"),
    (build_cirrus_classifier, {"input_shape": (3, 3, 1)}, "(3, 3, 1)"),
])
def test_builders_reject_bad_arguments(builder, kwargs, needle):
    with pytest.raises(ValueError) as err:
        builder(**kwargs)
    assert needle in str(err.value)


def test_double_conv_cosine_schedule_matches_optax():
    import keras

    sched = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=10, alpha=0.95)
    assert float(sched(0)) == pytest.approx(1e-3)
    assert float(sched(10)) == pytest.approx(9.5e-4)
    assert float(sched(25)) == pytest.approx(9.5e-4)
