"""Flare track: full-disk solar flare prediction from HMI magnetograms (Pandey, Angryk & Aydin 2023), notebook 06.

One name for the track: **flare**. A CNN (AlexNet, VGG16 or ResNet-34 backbone) reads a 512×512 8-bit full-disk
line-of-sight magnetogram and predicts whether a >= M1.0 flare starts within the next 24 hours. Two other names appear
in the package on purpose, because they name other things: *magnetogram* is the data (the generator
``solarcnn.synthetic.magnetogram``, like ``sot`` or ``cam5`` named after what it writes, and the 8-bit
encoding in ``solarcnn.io.hmi``), and *forecast* is the verification of any yes/no forecast
(``solarcnn.metrics.forecast``: TSS, HSS2, the confusion matrix), used here for flares.

- `labels`       the 24-hour labelling rule and calendar-quarter folds (the GOES flare-list format itself
                 is `solarcnn.io.goes`, re-exported here)
- `images`       HMI FITS / Helioviewer JPEG 2000 reading, north up (the 8-bit conversion is `solarcnn.io.hmi`)
- `archive`      the real data layouts (YYYY/MM/DD image folders, the authors' fold CSVs)
- `helioviewer`  Helioviewer API client (request URLs, cached verified downloads)
- `recipe`       oversampling + augmentation, class weights, best-epoch rule; the weighted loss, PyTorch-style
                 SGD and one-cycle schedule with momentum cycling come from `solarcnn.training`
- `spatial`      central vs near-limb recall, 5° recall heatmap

Model: `solarcnn.models.build_flare_model`; scores: `solarcnn.metrics.tss` / `hss`.
Specification: ``reference/flare.md``.
"""
