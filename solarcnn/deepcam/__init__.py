"""DeepCAM track: segmenting tropical cyclones and atmospheric rivers in CAM5 climate fields (notebook 05).

DeepCAM (Kurth et al. 2018; the MLPerf HPC benchmark) labels every pixel of 16-channel 768×1152 climate
snapshots as background, tropical cyclone or atmospheric river with a DeepLabv3+ network. Modules:

- `data`            samples, ``stats.h5``, the 80/10/10 split and the streaming `keras.utils.PyDataset` loader
- `archive`         the benchmark's real folders, and the download of the small ECP set
- `losses`          the reference's weighted cross-entropy (home: `solarcnn.training.losses`)
- `schedule`        the reference recipes (`WarmupMultiStep` itself is in `solarcnn.training.schedules`)
- `checkpoint`      checkpoints that resume mid-epoch
- `distribute`      data-parallel training on the existing engines; `distribute_tf` for TensorFlow only
- `cli`             ``solarcnn deepcam generate | split | summarize``

Model: `solarcnn.models.build_deeplabv3plus`; optimiser: `solarcnn.training.lamb.LAMB`; score:
`solarcnn.metrics.deepcam_iou`. Specification: ``reference/deepcam.md``.
"""
