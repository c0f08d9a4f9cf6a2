"""Deprecated alias: this module moved to `solarcnn.course.book_cli` (the old name is kept for one release)."""
import sys
import warnings

from .course import book_cli as _moved

warnings.warn("solarcnn.book_cli moved to solarcnn.course.book_cli; import it from there (the old name goes in "
              "the next release)", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
