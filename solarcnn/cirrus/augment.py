"""Paired image/mask augmentation for segmentation (``reference/cirrus.md`` §4, §8). Introduced in notebook 04.

One augmentation per sample, drawn uniformly from zoom, rotate, shift, shear and flip, with the original's
parameter ranges. **Corrected default:** images use linear interpolation (order 1) and masks nearest
(order 0), so a mask stays binary and aligned with its image; the shift range is scaled to the image
(±20 % of each side instead of the original's ±200 px, which exceeds a 128 × 160 frame). ``faithful=True``
reproduces the original (cubic interpolation of masks, ±200 px shifts, the shear about the corner (0, 0) as
``scipy.ndimage.affine_transform`` without an offset does), whose masks come out soft; the corrected default
shears about the frame's centre.
"""
from __future__ import annotations

import numpy as np

KINDS = ("zoom", "rotate", "shift", "shear", "flip")


def _zoom(img, factor, order):
    from scipy.ndimage import zoom

    h, w = img.shape
    z = zoom(img, factor, order=order, mode="reflect")
    top, left = (z.shape[0] - h) // 2, (z.shape[1] - w) // 2
    return z[top:top + h, left:left + w]


def augment_pair(image, mask, rng: np.random.Generator, kind: str | None = None, *, faithful: bool = False):
    """Apply the same random geometric transform to a 2-D image and its mask.

    Args:
        image: 2-D float image (H, W), or a multi-channel image (H, W, C) whose channels all get the
            same transform.
        mask: 2-D mask (H, W) (values 0/1; -1 for ignored pixels is kept as a label).
        rng: NumPy generator.
        kind: one of `KINDS`; None draws one uniformly.
        faithful: reproduce the original's interpolation orders and shift range (soft masks!).

    Returns:
        (image, mask): the mask keeps the input mask's dtype and value set unless `faithful`.
    """
    from scipy import ndimage as ndi

    image = np.asarray(image, dtype=np.float32)
    mask = np.asarray(mask)
    if image.ndim not in (2, 3) or image.shape[:2] != mask.shape or mask.ndim != 2:
        raise ValueError(f"augment_pair expects an (H, W) or (H, W, C) image and an (H, W) mask; received "
                         f"{image.shape} and {mask.shape}")
    if image.ndim == 3:   # one draw of the transform, applied to every channel and the mask
        state = rng.bit_generator.state
        outs = []
        for c in range(image.shape[2]):
            rng.bit_generator.state = state
            out_c, out_m = augment_pair(image[..., c], mask, rng, kind, faithful=faithful)
            outs.append(out_c)
        return np.stack(outs, axis=-1), out_m
    kind = kind or KINDS[rng.integers(len(KINDS))]
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; received {kind!r}")
    mask_f = mask.astype(np.float32)
    m_order = 3 if faithful else 0
    h, w = image.shape
    if kind == "flip":
        return image[:, ::-1].copy(), mask[:, ::-1].copy()
    if kind == "zoom":
        f = rng.uniform(1.0, 3.0)
        out_i, out_m = _zoom(image, f, 1), _zoom(mask_f, f, 0)
    elif kind == "rotate":
        a = rng.uniform(-45.0, 45.0)
        out_i = ndi.rotate(image, a, reshape=False, order=3 if faithful else 1, mode="reflect")
        out_m = ndi.rotate(mask_f, a, reshape=False, order=m_order, mode="reflect")
    elif kind == "shift":
        if faithful:
            s = rng.integers(-200, 201, 2)
        else:
            s = np.array([rng.integers(-h // 5, h // 5 + 1), rng.integers(-w // 5, w // 5 + 1)])
        out_i = ndi.shift(image, s, order=3 if faithful else 1, mode="reflect")
        out_m = ndi.shift(mask_f, s, order=m_order, mode="reflect")
    else:  # shear
        s0, s1 = rng.uniform(-0.2, 0.2, 2)
        matrix = np.array([[1.0, s0], [s1, 1.0]])
        # the original calls affine_transform without an offset: the shear pivots on the corner (0, 0), so
        # the far side of the frame moves by up to 0.2 * its size; corrected: about the centre, half as far
        centre = np.zeros(2) if faithful else np.array([h / 2, w / 2])
        offset = centre - matrix @ centre
        out_i = ndi.affine_transform(image, matrix, offset=offset, order=3 if faithful else 1, mode="reflect")
        out_m = ndi.affine_transform(mask_f, matrix, offset=offset, order=m_order, mode="reflect")
    if faithful:
        return out_i.astype(np.float32), out_m.astype(np.float32)
    return out_i.astype(np.float32), np.rint(out_m).astype(mask.dtype)


def _keras_pydataset():
    import keras

    return keras.utils.PyDataset


class CloudBatches(_keras_pydataset()):
    """The CIRRUS 64 + 64 batch generator as a backend-agnostic `keras.utils.PyDataset`.

    Each batch holds `batch_size` samples plus `aug_batch_size` augmented copies of samples drawn
    (with replacement) from that batch. Indices are reshuffled after every epoch. A channel axis is added.

    Args:
        images: (N, H, W) float images (already divided by 2¹⁴), or (N, H, W, C) multi-channel images.
        masks: (N, H, W) masks (0/1; -1 = ignore).
        batch_size: real samples per batch (64 in CIRRUS).
        aug_batch_size: augmented samples per batch (64 in CIRRUS; 0 for validation).
        seed: seed of the shuffling and augmentation draws.
        faithful: passed to `augment_pair`. The soft masks it makes overshoot (cubic splines: about -0.12 to 1.23)
            and are clipped to [0, 1] here when the masks hold no ignore label (-1): binary cross-entropy is a loss
            only for targets in [0, 1] (PyTorch refuses others; TensorFlow would reward predictions pushed to its
            clip limits). A deviation from the original, which trained on the overshoot; masks stay soft.
    """

    def __init__(self, images, masks, *, batch_size: int = 64, aug_batch_size: int = 64, seed: int = 0,
                 shuffle: bool = True, faithful: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.images = np.asarray(images, np.float32)
        self.masks = np.asarray(masks)
        if self.images.shape[:3] != self.masks.shape or self.images.ndim not in (3, 4) or self.masks.ndim != 3:
            raise ValueError(f"images must be (N, H, W) or (N, H, W, C) and masks (N, H, W); received "
                             f"{self.images.shape} and {self.masks.shape}")
        if batch_size < 1 or aug_batch_size < 0:
            raise ValueError(f"batch_size must be >= 1 and aug_batch_size >= 0; "
                             f"received {batch_size}, {aug_batch_size}")
        self.batch_size, self.aug_batch_size = int(batch_size), int(aug_batch_size)
        self.rng = np.random.default_rng(seed)
        self.shuffle, self.faithful = shuffle, faithful
        self.clip_soft = bool(faithful) and (self.masks.size == 0 or float(self.masks.min()) >= 0)
        self.order = self.rng.permutation(len(self.images)) if shuffle else np.arange(len(self.images))

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, idx):
        sel = self.order[idx * self.batch_size:(idx + 1) * self.batch_size]
        x, y = list(self.images[sel]), list(self.masks[sel].astype(np.float32))
        for j in self.rng.integers(0, len(sel), self.aug_batch_size):
            xi, yi = augment_pair(self.images[sel[j]], self.masks[sel[j]], self.rng, faithful=self.faithful)
            x.append(xi)
            y.append(np.clip(yi, 0.0, 1.0, dtype=np.float32) if self.clip_soft else yi.astype(np.float32))
        x = np.stack(x)
        return (x[..., None] if x.ndim == 3 else x), np.stack(y)[..., None]

    def on_epoch_end(self):
        if self.shuffle:
            self.order = self.rng.permutation(len(self.images))
