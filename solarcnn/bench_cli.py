"""Deprecated alias: this module moved to `solarcnn.course.bench_cli` (the old name is kept for one release)."""
import sys
import warnings

from .course import bench_cli as _moved

warnings.warn("solarcnn.bench_cli moved to solarcnn.course.bench_cli; import it from there (the old name goes in "
              "the next release)", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
