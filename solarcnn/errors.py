"""Exceptions raised by solarcnn.

Every error about a file names the file and says what is wrong with it, so a
student who meets one in a notebook knows where to look.
"""
from __future__ import annotations

import os


class SolarCNNError(Exception):
    """Base class of the package's own errors."""


class DataFileError(SolarCNNError, ValueError):
    """A data file is missing, corrupt, or not in the expected format.

    Args:
        path: the offending file.
        problem: what is wrong, in words a student can act on.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ChecksumError(DataFileError):
    """A file's SHA-256 (or size) is not the one its manifest declares."""


class DataLayoutError(DataFileError):
    """A data folder is not in the layout of the original project (``path`` is the folder, ``problem`` says
    what is missing or wrong and how the folder should look)."""


class ManifestError(SolarCNNError, ValueError):
    """A data manifest is malformed or names an unknown data set or file."""


class ParameterError(SolarCNNError, ValueError):
    """A notebook parameter or profile that does not exist was asked for."""


class OptionalDependencyError(SolarCNNError, ImportError):
    """A feature needs a package (or library) that is not installed; the message says how to install it.

    Args:
        package: what is missing, e.g. ``"sunpy"``.
        needed_for: what it is needed for, e.g. ``"return a sunpy.map.Map"``.
        install: the command that installs it, e.g. ``"pip install 'solarcnn[sunpy]'"``.
    """

    def __init__(self, package: str, needed_for: str, install: str):
        self.package, self.needed_for, self.install = package, needed_for, install
        super().__init__(f"{package} is needed to {needed_for} but is not installed; install it with: {install}")
