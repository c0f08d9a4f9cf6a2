"""Readers that fail loudly: every error names the file and the problem."""
from .fits import read_fits, read_fits_image, read_image, write_fits, write_image  # noqa: F401
