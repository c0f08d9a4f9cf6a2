"""The Keras flare ResNet34 computes what the PyTorch Custom_ResNet34 computes, with the same weights.

The PyTorch side is `benchmarks.torch_models.FlareResNet34Torch` (torchvision's BasicBlock layout,
flare.md §2.4). This pins the padding choices: explicit symmetric padding at stride 2, Keras "same" at
stride 1 (equal to PyTorch's padding k // 2 for odd k there)."""
import numpy as np

import keras

from solarcnn.models import build_flare_model


def _copy_weights(km, tm):
    import torch

    def conv(name, tconv):
        layer = km.get_layer(name)
        w = [tconv.weight.detach().numpy().transpose(2, 3, 1, 0)]
        if tconv.bias is not None:
            w.append(tconv.bias.detach().numpy())
        layer.set_weights(w)

    def bn(name, tbn, rng):
        with torch.no_grad():   # non-trivial statistics, so a misplaced BatchNorm shows
            tbn.weight.uniform_(0.5, 1.5)
            tbn.bias.uniform_(-0.2, 0.2)
            tbn.running_mean.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, tbn.num_features).astype("float32")))
            tbn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, tbn.num_features).astype("float32")))
        km.get_layer(name).set_weights([t.detach().numpy() for t in
                                        (tbn.weight, tbn.bias, tbn.running_mean, tbn.running_var)])

    rng = np.random.default_rng(0)
    n = km.name
    conv(f"{n}_first_conv", tm.first_conv)
    conv(f"{n}_stem_conv", tm.stem[0])
    bn(f"{n}_stem_bn", tm.stem[1], rng)
    k = 0
    for s, blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(blocks):
            blk, tag = tm.layers[k], f"{n}_layer{s}_block{b}"
            conv(f"{tag}_a_conv", blk.conv1)
            bn(f"{tag}_a_bn", blk.bn1, rng)
            conv(f"{tag}_b_conv", blk.conv2)
            bn(f"{tag}_b_bn", blk.bn2, rng)
            if blk.down is not None:
                conv(f"{tag}_proj_conv", blk.down[0])
                bn(f"{tag}_proj_bn", blk.down[1], rng)
            k += 1
    km.get_layer(f"{n}_logits").set_weights([tm.fc.weight.detach().numpy().T, tm.fc.bias.detach().numpy()])


def test_resnet34_equals_pytorch_reference_with_copied_weights():
    import torch

    from benchmarks.torch_models import FlareResNet34Torch

    torch.manual_seed(0)
    tm = FlareResNet34Torch().eval()
    keras.mixed_precision.set_global_policy("float32")
    # even sizes: there Keras' "same" at stride 2 would pad only after (0 / 1), PyTorch pads 1 / 1
    km = build_flare_model("resnet34", input_shape=(64, 96, 1))
    _copy_weights(km, tm)
    x = np.random.default_rng(1).uniform(0, 1, (2, 64, 96, 1)).astype("float32")
    with torch.no_grad():
        want = tm(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    got = keras.ops.convert_to_numpy(km(x, training=False))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.abs(want).max() > 1e-3, "the logits are not all ~0 (the comparison would be empty)"
