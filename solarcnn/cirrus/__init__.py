"""CIRRUS track: infrared all-sky cloud classification and segmentation (notebooks 03, 04, 07).

Modules:

- `rebin`        block-mean rebinning 512×640 → 128×160, one file or many in parallel
- `masks`        ground-truth masks: /2¹⁴ → ZScale(0.9) → LogStretch(1e5) → Otsu, stored as an int8 HDU1
- `augment`      paired image/mask augmentation (masks stay binary) and the 64 + 64 batch generator
- `split`        leakage-safe splits (sequences kept together, no sampling with replacement)
- `data`         the synthetic LWIR data set, built in a work folder when missing
- `wsiseg`       the real WSISEG all-sky set: red/blue-ratio input, ignore mask, threshold baseline
- `uncertainty`  Monte-Carlo dropout predictive maps and their entropy
- `search`       Optuna search of the U-Net (space, pruning callback, objective, plots) for notebook 07

Specification: ``reference/cirrus.md``.
"""
