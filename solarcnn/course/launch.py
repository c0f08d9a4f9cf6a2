"""Launching the notebooks in the cloud: the Colab set-up cell of every notebook, and where the repository is.

- The repository's URL is **one** configuration value: ``repository.url`` in ``book/_config.yml`` (the
  book's Binder and Colab launch buttons use it too). A fork sets its own URL there and runs
  ``python -m solarcnn.course.launch`` to rewrite the notebooks' Colab cells to match.
- Each notebook's first code cell (tagged ``colab-setup``) does nothing outside Google Colab; on Colab
  (``"google.colab" in sys.modules``) it pip-installs the package from that repository and fetches the
  notebook's real data sets (`NOTEBOOK_DATA`) with ``solarcnn data fetch``.
- Binder builds the environment from ``.binder/`` (``requirements.txt``: the package with CI's pins,
  ``runtime.txt``, ``postBuild``: the named kernel).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

COLAB_TAG = "colab-setup"

# The real data sets each notebook fetches (the synthetic ones are generated in the notebook itself).
NOTEBOOK_DATA = {
    "00_welcome": ["hinode_sot", "solar_images", "helioviewer_jp2"],
    "01_solar_fits_data_prep": ["hinode_sot"],
    "02_slic_feature_classifier": ["hinode_sot", "solar_images"],
    "03_cirrus_sky_classification": [],
    "04_cirrus_cloud_segmentation": ["wsiseg"],
    "05_deepcam_climate_segmentation": ["deepcam_stats", "cam5_grid"],
    "06_fulldisk_flare_prediction": ["goes_flares", "hmi_magnetograms"],
    "07_hyperparameter_search": [],
}


def repository_url(config: str | Path | None = None) -> str:
    """``repository.url`` of the book's ``_config.yml`` (default: the checkout's ``book/_config.yml``)."""
    import yaml

    from ..errors import DataFileError
    from ..utils import repo_root

    path = Path(config) if config else repo_root("book") / "book" / "_config.yml"
    try:
        url = (yaml.safe_load(path.read_text(encoding="utf-8")).get("repository") or {}).get("url")
    except (OSError, yaml.YAMLError) as exc:
        raise DataFileError(path, f"cannot read the book configuration ({exc})") from None
    if not isinstance(url, str) or not re.match(r"^https://\S+$", url):
        raise DataFileError(path, f"repository.url must be the https URL of the course's repository; found {url!r}")
    return url.rstrip("/")


def colab_cell_source(stem: str, url: str) -> str:
    """The source of notebook `stem`'s Colab set-up cell for the repository at `url`."""
    if stem not in NOTEBOOK_DATA:
        raise ValueError(f"no data list for notebook {stem!r}; add it to NOTEBOOK_DATA")
    data = NOTEBOOK_DATA[stem]
    lines = ["# On Google Colab only (does nothing elsewhere): install the course package and fetch this "
             "notebook's data.",
             "import sys",
             "",
             'if "google.colab" in sys.modules:',
             "    import subprocess",
             "",
             f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "solarcnn @ git+{url}"], check=True)']
    if data:
        lines += [f"    for name in {json.dumps(data)}:",
                  '        subprocess.run([sys.executable, "-m", "solarcnn", "data", "fetch", name], check=True)']
    return "\n".join(lines)


def colab_cell(nb: dict) -> dict | None:
    """The notebook's cell tagged ``colab-setup``, or None."""
    for cell in nb.get("cells", []):
        if COLAB_TAG in (cell.get("metadata", {}).get("tags") or []):
            return cell
    return None


def update_notebooks(folder: str | Path | None = None, url: str | None = None) -> list[Path]:
    """Rewrite every notebook's Colab cell for `url` (default `repository_url`); return the changed files."""
    from ..utils import repo_root
    from .runner import NOTEBOOK_RE

    folder = Path(folder) if folder else repo_root("notebooks") / "notebooks"
    url = url or repository_url()
    changed = []
    for path in sorted(p for p in folder.iterdir() if NOTEBOOK_RE.match(p.name)):
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = colab_cell(nb)
        want = colab_cell_source(path.stem, url)
        if cell is None:
            raise ValueError(f"{path}: no cell tagged {COLAB_TAG!r} (CONTRIBUTING.md, notebook rule 2)")
        if "".join(cell["source"]) != want:
            cell["source"] = want.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":     # python -m solarcnn.course.launch: Colab cells follow book/_config.yml
    done = update_notebooks()
    print(f"{len(done)} notebook(s) updated for {repository_url()}", file=sys.stderr)
