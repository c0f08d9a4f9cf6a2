"""Plot helpers shared by the notebooks: one style, colour-blind-safe colours,
solar images in physical orientation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

STYLE = Path(__file__).parent / "styles" / "solarcnn.mplstyle"

# Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def use_style() -> None:
    """Load the package's matplotlib style (a bundled file: no network)."""
    import matplotlib.pyplot as plt

    plt.style.use(str(STYLE))


def imshow_solar(ax, image, *, extent=None, cmap="gray", vmin=None, vmax=None, symmetric=False,
                 title=None, xlabel="Solar-X [arcsec]", ylabel="Solar-Y [arcsec]", colorbar_label=None):
    """Show a solar image in physical orientation (solar north up, east left).

    FITS arrays store the first row at the bottom of the image (pixel (1,1) is
    the lower-left corner), so the image is drawn with ``origin="lower"``.

    Args:
        ax: a matplotlib Axes.
        image: 2-D array, as read from FITS.
        extent: (left, right, bottom, top) in arcsec; pixel units if None.
        symmetric: use a colour range symmetric around zero (magnetograms).
        colorbar_label: if given, add a colour bar with this label.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"imshow_solar expects a 2-D image; received shape {image.shape}")
    if symmetric:
        lim = vmax if vmax is not None else float(np.nanpercentile(np.abs(image), 99.5))
        vmin, vmax = -lim, lim
        if cmap == "gray":
            cmap = "RdBu_r"
    im = ax.imshow(image, origin="lower", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if extent is None:
        xlabel, ylabel = "x [pixel]", "y [pixel]"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar_label is not None:
        ax.figure.colorbar(im, ax=ax, label=colorbar_label, shrink=0.85)
    return im


def plot_history(history, metrics=("loss",), *, ax=None, title="Learning curves"):
    """Plot training and validation curves from a Keras ``History`` (or its ``.history`` dict)."""
    import matplotlib.pyplot as plt

    hist = getattr(history, "history", history)
    if ax is None:
        _, ax = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
        axes = ax[0]
    else:
        axes = np.atleast_1d(ax)
    for a, m in zip(axes, metrics):
        if m not in hist:
            raise ValueError(f"plot_history: metric {m!r} not in history; available: {sorted(hist)}")
        epochs = np.arange(1, len(hist[m]) + 1)
        a.plot(epochs, hist[m], "o-", color=OKABE_ITO[0], label="train")
        if f"val_{m}" in hist:
            a.plot(epochs, hist[f"val_{m}"], "s--", color=OKABE_ITO[1], label="validation")
        a.set_xlabel("epoch")
        a.set_ylabel(m)
        a.legend()
    axes[0].figure.suptitle(title)
    return axes


def plot_confusion(cm, class_names, *, ax=None, normalize=True, title="Confusion matrix"):
    """Draw a confusion matrix (rows: true class, columns: predicted)."""
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"plot_confusion: matrix shape {cm.shape} does not match {len(class_names)} class names")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * len(class_names) + 2.5, 1.1 * len(class_names) + 1.8))
    # origin="upper": the first class on the top row (the package style sets origin="lower" for images)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None, origin="upper")
    ax.set_xticks(range(len(class_names)), class_names, rotation=35, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            txt = f"{shown[i, j]:.2f}\n({int(cm[i, j])})" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > 0.6 * (shown.max() or 1) else "black")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "count")
    return ax
