"""Slic track: classifying Hinode/SOT H-alpha images into five solar-feature classes (notebooks 01, 02).

Slic (Armstrong & Fletcher 2019) is a small CNN that labels 256×256 H-alpha frames as filaments, flare
ribbons, prominences, quiet Sun or sunspots. Modules:

- `prep`      FITS folders → training-ready arrays (zero-pixel check, byte-scaling, bicubic resize), cached
- `data`      the synthetic SOT-like data set (`solarcnn.synthetic` ``sot``), built in a work folder on demand
- `archive`   the real data layouts (class folders of FITS files, the original's prepared npz files)
- `classify`  using a trained model: classify files, traverse a data set, map a full-disk image
- `real`      sim-to-real: a model trained on synthetic frames measured on real SOT, DKIST and BBSO images
- `cli`       ``solarcnn classify FILES... --model PATH``

Model: `solarcnn.models.build_slic`. Specification: ``reference/slic.md``.
"""
