"""Deprecated alias: this module moved to `solarcnn.course.runner` (the old name is kept for one release)."""
import sys
import warnings

from .course import runner as _moved

warnings.warn("solarcnn.runner moved to solarcnn.course.runner; import it from there (the old name goes in the next "
              "release)", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
