"""Where does the model miss flares? Central vs near-limb recall and the 5° recall heatmap.

Each positive image is placed at the heliographic position (lon, lat) of the largest
flare of its 24-hour window (longitude = central-meridian distance).

- **central**: ``|lon| <= 70°`` and ``|lat| <= 70°``; **near-limb**: ``|lon| > 70°``
  (the original also counts ``|lat| > 70°``; no real flare is that far north/south).
- Recall = TP / (TP + FN), per largest-flare class (X, M) and for X+M.
- Heatmap (``visualize_spatial_recalls.py``): longitudes equal to 70 and 90 are nudged
  down by 1° so the bins close on the right; bins of 5° with key ``floor(v / 5) * 5``;
  the grid spans lon -90..90 and lat -35..35 (14 × 36 bins); bins with TP = 0 and FN > 0
  get a marker; vertical lines at ±70°.
"""
from __future__ import annotations

import numpy as np

from ..plotting import OKABE_ITO

LIMB_DEG = 70.0
LON_EDGES = np.arange(-90, 91, 5)
LAT_EDGES = np.arange(-35, 36, 5)


def location_class(lon, lat, *, limb: float = LIMB_DEG) -> np.ndarray:
    """``"central"``, ``"near-limb"`` or ``"unknown"`` (NaN position) for each flare position."""
    lon = np.atleast_1d(np.asarray(lon, float))
    lat = np.atleast_1d(np.asarray(lat, float))
    out = np.full(lon.shape, "unknown", dtype=object)
    known = ~(np.isnan(lon) | np.isnan(lat))
    near = known & ((np.abs(lon) > limb) | (np.abs(lat) > limb))
    out[known & ~near] = "central"
    out[near] = "near-limb"
    return out.astype(str)


def limb_recall(y_true, y_pred, goes_class, lon, lat, *, limb: float = LIMB_DEG) -> dict:
    """Recall of positive instances by location and largest-flare class.

    Args:
        y_true, y_pred: 0/1 labels (only ``y_true == 1`` rows are used).
        goes_class: the window's largest class (``"M2.5"``, ``"X1.0"``, ...).
        lon, lat: its position in degrees.

    Returns:
        ``{(where, cls): {"tp", "fn", "recall"}}`` for where in (central, near-limb, all) and
        cls in (X, M, X+M); recall is NaN where there is no positive instance.
    """
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    letters = np.array([str(c)[:1] for c in goes_class])
    where = location_class(lon, lat, limb=limb)
    out = {}
    for w in ("central", "near-limb", "all"):
        for cls, keep in (("X", ("X",)), ("M", ("M",)), ("X+M", ("X", "M"))):
            sel = (y_true == 1) & np.isin(letters, keep) & ((where == w) if w != "all" else True)
            tp, fn = int(np.sum(sel & (y_pred == 1))), int(np.sum(sel & (y_pred == 0)))
            out[(w, cls)] = {"tp": tp, "fn": fn, "recall": tp / (tp + fn) if tp + fn else float("nan")}
    return out


def recall_table(result: dict) -> str:
    """A Markdown table of `limb_recall`'s result."""
    rows = ["| location | class | TP | FN | recall |", "|---|---|---|---|---|"]
    for (w, cls), v in result.items():
        r = "—" if np.isnan(v["recall"]) else f"{v['recall']:.2f}"
        rows.append(f"| {w} | {cls} | {v['tp']} | {v['fn']} | {r} |")
    return "\n".join(rows)


def heatmap_bins(lon, lat, correct) -> dict:
    """Counts per 5° bin for the recall heatmap.

    Args:
        lon, lat: positions (degrees) of positive instances (NaN rows are dropped).
        correct: bool, True where the instance was predicted as a flare (TP).

    Returns:
        dict with ``tp``, ``fn`` (int arrays, lat × lon = 14 × 36), ``recall`` (NaN where empty),
        ``lon_edges``, ``lat_edges`` and ``dropped`` (rows outside the grid or without a position).
    """
    lon = np.asarray(lon, float).copy()
    lat = np.asarray(lat, float)
    correct = np.asarray(correct, bool)
    if not (lon.shape == lat.shape == correct.shape):
        raise ValueError(f"lon, lat and correct must have the same shape; received {lon.shape}, {lat.shape}, "
                         f"{correct.shape}")
    lon[(lon == 70) | (lon == 90)] -= 1          # the original's nudge: bins close on the right
    ok = ~(np.isnan(lon) | np.isnan(lat))
    key_lon = np.floor(lon[ok] / 5) * 5
    key_lat = np.floor(lat[ok] / 5) * 5
    inside = (key_lon >= -90) & (key_lon < 90) & (key_lat >= -35) & (key_lat < 35)
    ilon = ((key_lon[inside] + 90) // 5).astype(int)
    ilat = ((key_lat[inside] + 35) // 5).astype(int)
    tp = np.zeros((len(LAT_EDGES) - 1, len(LON_EDGES) - 1), int)
    fn = np.zeros_like(tp)
    c = correct[ok][inside]
    np.add.at(tp, (ilat[c], ilon[c]), 1)
    np.add.at(fn, (ilat[~c], ilon[~c]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), np.nan)
    return {"tp": tp, "fn": fn, "recall": recall, "lon_edges": LON_EDGES, "lat_edges": LAT_EDGES,
            "dropped": int((~ok).sum() + (~inside).sum())}


def bin_key(lon: float, lat: float) -> tuple[int, int]:
    """``(lat_key, lon_key)`` of one position, after the nudge (e.g. (-32, 70) -> (-35, 65))."""
    if lon in (70, 90):
        lon -= 1
    return int(np.floor(lat / 5) * 5), int(np.floor(lon / 5) * 5)


def plot_recall_heatmap(ax, bins: dict, *, title: str = "Recall of flaring instances", limb: float = LIMB_DEG):
    """Draw the recall heatmap: Blues, ±70° lines, a cross on bins with TP = 0 and FN > 0."""
    rec = bins["recall"]
    finite = rec[np.isfinite(rec)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:   # one value everywhere: show it on the whole recall scale, never below 0
        vmin, vmax = 0.0, 1.0
    im = ax.imshow(np.ma.masked_invalid(rec), origin="lower", cmap="Blues", vmin=vmin, vmax=vmax,
                   extent=(-90, 90, -35, 35), aspect="auto", interpolation="nearest")
    miss = (bins["tp"] == 0) & (bins["fn"] > 0)
    yy, xx = np.nonzero(miss)
    ax.scatter(bins["lon_edges"][xx] + 2.5, bins["lat_edges"][yy] + 2.5, marker="x", s=30,
               color=OKABE_ITO[3], label="no flare predicted (TP = 0)")
    for x in (-limb, limb):
        ax.axvline(x, color=OKABE_ITO[3], lw=1.5, ls="--")
    ax.set_xlabel("longitude (central-meridian distance) [deg]")
    ax.set_ylabel("latitude [deg]")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, label="recall per 5° bin", shrink=0.85)
    if miss.any():
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8)   # below the axes, off the data
    return im
