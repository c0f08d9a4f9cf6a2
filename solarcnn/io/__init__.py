"""Readers that fail loudly: every error names the file and the problem."""
from .fits import read_fits, read_fits_image, read_hdus, read_image, write_fits, write_image  # noqa: F401
from .jp2 import read_jp2, read_jp2_header  # noqa: F401
from .maps import read_map, require_sunpy, sunpy_available, to_map  # noqa: F401
