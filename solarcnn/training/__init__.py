"""Training pieces shared by the tracks (layer 2): the one home of losses, schedules, optimisers.

- `losses`      `PixelWeightedCrossEntropy` (DeepCAM), `WeightedMeanCrossEntropy` (flare recipe),
                `masked_binary_crossentropy` (CIRRUS / WSISEG), with NumPy references
- `schedules`   `WarmupMultiStep` (DeepCAM), `one_cycle` / `OneCycleScheduler` (flare recipe),
                `OneCycleLR` (the same rate as a Keras schedule)
- `optimizers`  `TorchSGD` (PyTorch-style SGD, flare recipe), `Adam` and `SGD` (Keras' with TensorFlow's fused
                kernels, TF half in `optimizers_tf`) and `LAMB` (apex FusedLAMB, DeepCAM; in `lamb`)

A track keeps what is its own (DeepCAM's reference recipes, the flare recipe's oversampling and best-epoch
rule, the CIRRUS search's pruning callback) and re-exports what it uses from here under its old names.
Nothing is imported here: ``import solarcnn.training`` does not import Keras.
"""
