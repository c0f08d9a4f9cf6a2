"""The package version (layer 0: every module may read it without importing the package's ``__init__``)."""

__version__ = "0.1.0"
