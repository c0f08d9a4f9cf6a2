"""``solarcnn doctor``: is this machine ready for the course? One line per check, a fix for each problem.

Checks, in order:

1. **Python**: the version the package needs (3.11+; CI tests 3.11).
2. **Keras backend**: ``KERAS_BACKEND`` names one of tensorflow / jax / torch, Keras imports with it (in a
   fresh interpreter, so a broken backend is reported rather than crashing the doctor), and the devices it sees.
3. **Jupyter kernel**: the course's named kernel (``solarcnn``, "Python (solarcnn)") is installed, its
   interpreter exists and imports this ``solarcnn``.
4. **Data**: every real data set of the registry — verified in the cache, not fetched yet (fine: the
   notebooks fetch it, from ``SOLARCNN_DATA_MIRROR`` or the network), or damaged (a file whose size or
   SHA-256 differs from the manifest: a problem). ``--offline`` also counts a data set that is not in the
   cache as a problem (a classroom without internet needs everything there before it starts).

Exit status 0 when nothing is wrong, 1 otherwise. Documented in the book's "Setting up" page.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

BACKENDS = ("tensorflow", "jax", "torch")
MIN_PYTHON = (3, 11)
KERNEL_DISPLAY_NAME = "Python (solarcnn)"


@dataclass
class Finding:
    """One check's result: ``status`` is "ok", "note" (fine, but worth knowing) or "problem"."""

    topic: str
    status: str
    message: str
    fix: str = ""


def check_python(version=None) -> Finding:
    v = tuple(version or sys.version_info[:3])
    shown = ".".join(str(p) for p in v)
    if v[:2] < MIN_PYTHON:
        return Finding("python", "problem", f"Python {shown} ({sys.executable}); the course needs 3.11 or newer",
                       "install Python 3.11 and run `PYTHON=python3.11 bash tools/setup.sh`")
    return Finding("python", "ok", f"Python {shown} ({sys.executable})")


_KERAS_PROBE = ("import json, keras; from keras import distribution; "
                "print(json.dumps({'backend': keras.backend.backend(), 'keras': keras.__version__, "
                "'devices': [str(d) for d in distribution.list_devices()]}))")


def check_backend(timeout: float = 180) -> Finding:
    import json

    want = os.environ.get("KERAS_BACKEND", "")
    if want and want not in BACKENDS:
        return Finding("backend", "problem", f"KERAS_BACKEND={want!r} is not a Keras backend",
                       f"set KERAS_BACKEND to one of {', '.join(BACKENDS)} (or unset it: tensorflow), "
                       f"e.g. `export KERAS_BACKEND=tensorflow`")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        proc = subprocess.run([sys.executable, "-c", _KERAS_PROBE], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Finding("backend", "problem", f"importing Keras took more than {timeout:.0f} s",
                       "retry on an idle machine; if it persists, re-create the environment (bash tools/setup.sh)")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        name = want or "tensorflow"
        return Finding("backend", "problem", f"Keras does not import with the {name} backend: {err[:300]}",
                       "install it into the course environment (bash tools/setup.sh; jax and torch: "
                       "SOLARCNN_EXTRAS=dev,jax,torch bash tools/setup.sh) or choose another KERAS_BACKEND")
    info = json.loads(lines[-1])
    devices = ", ".join(info["devices"]) or "none listed"
    gpu = any("gpu" in d.lower() or "cuda" in d.lower() for d in info["devices"])
    return Finding("backend", "ok", f"Keras {info['keras']}, backend {info['backend']}, devices: {devices}"
                   + ("" if gpu else " (CPU only: the tiny profile is made for that)"))


def check_kernel(name: str | None = None) -> Finding:
    from .runner import KERNEL_NAME

    name = name or KERNEL_NAME
    fix = (f"run `bash tools/setup.sh`, or `{sys.executable} -m ipykernel install --sys-prefix --name {name} "
           f"--display-name \"{KERNEL_DISPLAY_NAME}\"`")
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return Finding("kernel", "problem", "jupyter_client is not installed, so no notebook can run", fix)
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return Finding("kernel", "problem", f"the course's Jupyter kernel {name!r} is not installed", fix)
    python = spec.argv[0] if spec.argv else ""
    if python in ("python", "python3") or not os.path.isabs(python):
        from shutil import which

        python = which(python) or python
    if not python or not os.path.exists(python):
        return Finding("kernel", "problem", f"kernel {name!r} ({spec.resource_dir}) starts {spec.argv[0]!r}, "
                                            f"which does not exist", fix)
    try:
        proc = subprocess.run([python, "-c", "import solarcnn, sys; print(solarcnn.__file__)"],
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("kernel", "problem", f"kernel {name!r}: its interpreter {python} does not run ({exc})", fix)
    if proc.returncode != 0:
        return Finding("kernel", "problem", f"kernel {name!r}: its interpreter {python} cannot import solarcnn",
                       fix)
    import solarcnn

    theirs = os.path.dirname(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else ""
    if os.path.realpath(theirs) != os.path.realpath(os.path.dirname(solarcnn.__file__)):
        return Finding("kernel", "problem", f"kernel {name!r} imports another solarcnn ({theirs})", fix)
    return Finding("kernel", "ok", f"Jupyter kernel {name!r} \"{spec.display_name}\" -> {python}")


def check_data(offline: bool = False) -> list[Finding]:
    from ..data import cache_dir, list_datasets, mirror_dir, verify

    mirror = mirror_dir()
    source = f"the mirror {mirror}" if mirror else "the network"
    out = []
    for name in list_datasets(kind="files"):
        try:
            statuses = verify(name)
        except Exception as exc:      # a broken manifest: report it, keep checking the others
            out.append(Finding(f"data {name}", "problem", f"cannot check: {exc}",
                               "update the checkout (git pull); the manifests come with it"))
            continue
        bad = [s for s in statuses if s.status not in ("ok", "missing")]
        missing = [s for s in statuses if s.status == "missing"]
        if bad:
            first = bad[0]
            out.append(Finding(f"data {name}", "problem",
                               f"{len(bad)} damaged file(s) in the cache, e.g. {first.path}: {first.status}",
                               f"`solarcnn data fetch {name}` replaces damaged files from {source} "
                               f"(then `solarcnn data verify {name}`)"))
        elif missing and offline:
            out.append(Finding(f"data {name}", "problem",
                               f"{len(missing)} of {len(statuses)} file(s) not in the cache ({cache_dir()})",
                               f"`solarcnn data fetch {name}` (or `solarcnn data fetch --all`) while {source} "
                               f"is reachable"))
        elif missing:
            out.append(Finding(f"data {name}", "note",
                               f"{len(missing)} of {len(statuses)} file(s) not fetched yet; the notebooks "
                               f"fetch it from {source} on first use",
                               f"to have it now: `solarcnn data fetch {name}`"))
        else:
            out.append(Finding(f"data {name}", "ok", f"{len(statuses)} file(s) present and verified"))
    return out


def run(*, offline: bool = False, kernel: str | None = None, skip_backend: bool = False) -> list[Finding]:
    """Every check's findings (see the module docstring)."""
    findings = [check_python()]
    if not skip_backend:
        findings.append(check_backend())
    findings.append(check_kernel(kernel))
    findings += check_data(offline=offline)
    return findings


_MARK = {"ok": "ok     ", "note": "note   ", "problem": "PROBLEM"}


def report(findings: list[Finding], file=None) -> int:
    """Print the findings; return the exit status (1 if any is a problem)."""
    file = file or sys.stdout
    for f in findings:
        print(f"{_MARK[f.status]} {f.topic:<26} {f.message}", file=file)
        if f.fix and f.status == "problem":
            print(f"{'':8}{'':26} fix: {f.fix}", file=file)
    problems = [f for f in findings if f.status == "problem"]
    print(f"\n{len(findings) - len(problems)} of {len(findings)} checks passed"
          + (f"; {len(problems)} problem(s), each with its fix above." if problems else ": ready for the course."),
          file=file)
    return 1 if problems else 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor", help="check this machine for the course (Python, Keras backend, Jupyter kernel, data)",
        description="Report the Python version, the Keras backend and its devices, the course's Jupyter kernel "
                    "and which data sets are present and verified, with a fix for each problem. "
                    "Exit 0 when all is well, 1 otherwise.")
    p.add_argument("--offline", action="store_true",
                   help="every real data set must already be in the cache (a classroom without internet)")
    p.add_argument("--kernel", default=None, help="the Jupyter kernel to check (default: the course's, solarcnn)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    return report(run(offline=args.offline, kernel=args.kernel))
