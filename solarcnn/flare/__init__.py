"""Full-disk flare prediction track (Pandey, Angryk & Aydin 2023), notebook 06.

- `labels`       GOES flare lists, the 24-hour labelling rule, calendar-quarter folds
- `images`       HMI FITS / Helioviewer JPEG 2000 reading, 512×512 8-bit conversion
- `helioviewer`  Helioviewer API client (request URLs, cached verified downloads)
- `recipe`       oversampling + augmentation, weighted loss, PyTorch-style SGD, one-cycle with
                 momentum cycling, best-epoch rule
- `spatial`      central vs near-limb recall, 5° recall heatmap

Models: `solarcnn.models.build_flare_model`; scores: `solarcnn.metrics.tss` / `hss`.
"""
