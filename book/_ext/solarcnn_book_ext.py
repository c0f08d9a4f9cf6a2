"""Sphinx extension of the solarcnn book (loaded through ``_config.yml``: ``sphinx.local_extensions``).

Two fixes for the pinned Jupyter Book 1 stack:

1. Offline MathJax lives in ``_vendor/mathjax`` (copied there by ``solarcnn.course.book.stage``)
   and is added to ``html_static_path`` here, after Jupyter Book has read its config:
   Jupyter Book adds every ``.js`` file found in its static folders to every page, so
   MathJax placed in ``_static`` would be loaded twice (and its font file as a script).
2. Sphinx 7.4 includes inline scripts added in ``builder-inited`` twice (sphinx-doc/sphinx
   PR #13402, fixed in Sphinx 8.2), which makes every page raise
   ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``. Duplicate script
   and stylesheet entries are dropped from each page's context.
"""
from __future__ import annotations

from pathlib import Path


def _add_vendor_static(app, config) -> None:
    vendor = Path(app.srcdir) / "_vendor"
    if vendor.is_dir():
        config.html_static_path = list(config.html_static_path) + [str(vendor)]


def _asset_key(asset) -> tuple:
    filename = getattr(asset, "filename", str(asset)) or ""
    attributes = getattr(asset, "attributes", {}) or {}
    return filename, tuple(sorted((k, str(v)) for k, v in attributes.items()))


def _dedupe_assets(app, pagename, templatename, context, doctree) -> None:
    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if not assets:
            continue
        seen, unique = set(), []
        for asset in assets:
            k = _asset_key(asset)
            if k in seen:
                continue
            seen.add(k)
            unique.append(asset)
        context[key] = unique


def setup(app):
    app.connect("config-inited", _add_vendor_static)
    app.connect("html-page-context", _dedupe_assets, priority=1000)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
