"""The data registry: one manifest per data set, a verified cache, a local mirror.

>>> from solarcnn.data import fetch
>>> folder = fetch("hinode_sot")                                        # every file of the set
>>> png = fetch("wsiseg", "images/ASC100-1006_001.png")                 # one file

Manifests (``data_manifests/<name>.yaml``, format in ``data_manifests/README.md``)
give each file's public origin, size and SHA-256. Environment variables:

- ``SOLARCNN_CACHE``: the cache root (default ``pooch.os_cache("solarcnn")``);
  files land in ``<cache>/<name>/<path>``.
- ``SOLARCNN_DATA_MIRROR``: a local folder laid out like ``../shared/data``
  that stands in for the network (tests and CI set it).
- ``SOLARCNN_MANIFESTS``: another manifest folder (tests).

Command line: ``solarcnn data list | fetch NAME | verify NAME | path NAME | build NAME``.
"""
from __future__ import annotations

from .manifest import FileEntry, Manifest, load_manifest, validate  # noqa: F401
from .registry import (  # noqa: F401
    FileStatus,
    build_derived,
    cache_dir,
    check_file,
    copy_verified,
    download,
    fetch,
    iter_fetch,
    list_datasets,
    manifest,
    manifests_dir,
    mirror_dir,
    path,
    sha256_file,
    use_generators,
    verify,
)

__all__ = ["fetch", "path", "verify", "list_datasets", "manifest", "cache_dir", "download", "build_derived",
           "mirror_dir", "manifests_dir", "check_file", "copy_verified", "sha256_file", "iter_fetch",
           "load_manifest", "validate", "Manifest", "FileEntry", "FileStatus", "use_generators"]
