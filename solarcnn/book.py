"""Deprecated alias: this module moved to `solarcnn.course.book` (the old name is kept for one release)."""
import sys
import warnings

from .course import book as _moved

warnings.warn("solarcnn.book moved to solarcnn.course.book; import it from there (the old name goes in the next "
              "release)", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
