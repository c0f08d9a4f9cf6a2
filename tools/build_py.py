"""setuptools commands that put the course files kept beside the package into the wheel.

The data manifests (``data_manifests/``) and the notebooks (``notebooks/NN_*.ipynb``) sit at the
repository's top level, beside ``solarcnn/``. An editable install reads them there; a built wheel
gets a copy under ``solarcnn/_course/`` (found at run time by `solarcnn._resources.course_folder`
through ``importlib.resources``). ``pyproject.toml`` names these classes in ``[tool.setuptools.cmdclass]``.

- `BuildPy` (``build_py``): after the usual build, copies the files into ``<build_lib>/solarcnn/_course/``.
- `SDist` (``sdist``): puts the same files and this module into the source archive, so a wheel built
  from the sdist (``python -m build``) gets them too.
"""
from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py as _build_py
from setuptools.command.sdist import sdist as _sdist

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = Path("solarcnn") / "_course"
# folder -> the files of it that ship (glob patterns)
FOLDERS = {"data_manifests": ("*.yaml", "README.md"), "notebooks": ("[0-9][0-9]_*.ipynb",)}


def course_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """(source file, path relative to the package's ``_course/``) of every shipped file.

    Raises:
        FileNotFoundError: a folder is missing or has no files (the wheel would be broken).
    """
    out = []
    for folder, patterns in FOLDERS.items():
        found = sorted({p for pattern in patterns for p in (root / folder).glob(pattern) if p.is_file()})
        if not found:
            raise FileNotFoundError(f"{root / folder}: no {' or '.join(patterns)} files to package; "
                                    "build the wheel from a complete checkout or sdist")
        out += [(p, f"{folder}/{p.name}") for p in found]
    return out


class BuildPy(_build_py):
    """``build_py`` that also copies the course files into ``solarcnn/_course/`` of the build."""

    def run(self):
        super().run()
        if self.editable_mode:          # an editable install reads the checkout's own folders
            return
        for src, rel in course_files():
            dest = Path(self.build_lib) / PACKAGED / rel
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        extra = [] if self.editable_mode else [str(Path(self.build_lib) / PACKAGED / rel) for _, rel in course_files()]
        return super().get_outputs(include_bytecode) + extra


class SDist(_sdist):
    """``sdist`` that also ships the course files and this module (``pyproject.toml`` names it)."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        extra = [(src, src.relative_to(ROOT)) for src, _ in course_files()]
        extra.append((Path(__file__).resolve(), Path(__file__).resolve().relative_to(ROOT)))
        for src, rel in extra:
            dest = Path(base_dir) / rel
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))
