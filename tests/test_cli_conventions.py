"""The conventions of every ``solarcnn`` command, checked through real subprocess calls of the CLI.

- usage errors: one line ``solarcnn: error: …`` on stderr, exit 2; failures: the same, exit 1;
  ``--debug`` adds the traceback;
- a closed pipe (``solarcnn data list | head -1``) ends quietly;
- ``--help`` of every sub-command ends with examples;
- ``data fetch/verify --all``; a read-only cache names SOLARCNN_CACHE; stale partial files are removed;
- the main job is quiet: the frameworks' start-up lines go to the run folder's log, not the terminal.
"""
from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from solarcnn.course import cli, runner

SOLARCNN = [sys.executable, "-m", "solarcnn"]
ERROR_LINE = re.compile(r"^solarcnn: error: .+$")


def _run(*args, env=None, timeout=300, **kw):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*SOLARCNN, *map(str, args)], capture_output=True, text=True, env=full_env,
                          timeout=timeout, **kw)


def _one_error_line(proc, code: int, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and ERROR_LINE.match(lines[0]), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("args, needles", [
    (["deepcam", "generate", "{d}/g", "-n", "-2"], ["n must be", "-2"]),
    (["deepcam", "generate", "{d}/g", "--size", "0", "0", "-n", "1"], ["size", "(0, 0)"]),
    (["synthetic", "generate", "nope", "{d}/s"], ["no synthetic generator 'nope'", "cam5"]),
    (["synthetic", "generate", "cam5", "{d}/s", "-o", "foo", "1"], ["has no option(s) ['foo']", "size"]),
    (["synthetic", "generate", "cam5", "{d}/s", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["deepcam", "generate", "{d}/g", "-n", "many"], ["invalid int value: 'many'"]),
    (["data", "fetch", "no_such_set"], ["unknown data set 'no_such_set'"]),
    (["data", "fetch"], ["name a data set, or --all"]),
    (["data"], ["required"]),
    (["run", "02", "-p", "epochs", "abc", "--run-dir", "{d}/r"], ["'epochs' must be int", "'abc'"]),
    (["run", "02", "--profile", "huge"], ["unknown profile 'huge'"]),
    (["no-such-command"], ["invalid choice: 'no-such-command'"]),
    (["classify", "{d}/sun.fits", "--model", "{d}/absent.keras"], ["absent.keras: model file not found"]),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, needles):
    proc = _run(*[a.format(d=tmp_path) for a in args])
    _one_error_line(proc, 2, *needles)
    assert not (tmp_path / "r").exists() and not (tmp_path / "g").exists()


def test_output_path_that_is_a_file_and_debug_shows_the_traceback(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    args = ["deepcam", "generate", a_file, "-n", "1", "--size", "16", "16"]
    line = _one_error_line(_run(*args), 2, str(a_file))
    assert a_file.read_text() == "not a folder"
    debug = _run(*args, "--debug")
    assert debug.returncode == 2 and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == line


def test_a_run_folder_that_is_a_file_is_refused(tmp_path):
    a_file = tmp_path / "results"
    a_file.write_text("my notes")
    _one_error_line(_run("run", "00", "--run-dir", a_file), 2, f"{a_file}: the run folder exists and is not a folder")
    assert a_file.read_text() == "my notes"


def test_a_failure_exits_1_with_one_line(tmp_path):
    """A damaged file in the cache: verify fails (exit 1): a line per bad file, then ``solarcnn: error: …``."""
    cache = tmp_path / "cache"
    assert _run("data", "fetch", "cam5_grid", env={"SOLARCNN_CACHE": str(cache)}).returncode == 0
    victim = next(p for p in sorted((cache / "cam5_grid").rglob("*")) if p.is_file())
    victim.write_bytes(b"damaged")
    proc = _run("data", "verify", "cam5_grid", env={"SOLARCNN_CACHE": str(cache)})
    assert proc.returncode == 1 and proc.stdout.strip() == "cam5_grid: 1 file(s) failed"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and str(victim) in lines[0] and "Traceback" not in proc.stderr
    assert lines[1] == ("solarcnn: error: 1 file(s) failed the check (listed above); "
                        "`solarcnn data fetch NAME` fetches them again")


def test_closed_pipe_ends_quietly():
    """``solarcnn data list | head -1``: the reader is gone before the command writes."""
    proc = subprocess.Popen([*SOLARCNN, "data", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                          # the reader goes away at once (head -1 after one line)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert err == "", err


def test_every_sub_command_has_help_with_examples():
    parser = cli.build_parser()
    missing = [p.prog for p in cli._parsers(parser) if not (p.epilog or "").startswith("examples:")]
    assert not missing, f"sub-commands without examples in --help (add them to cli.EXAMPLES): {missing}"
    proc = _run("data", "fetch", "--help")
    assert proc.returncode == 0 and "examples:\n  solarcnn data fetch --all" in proc.stdout


def test_fetch_and_verify_all_without_a_terminal(tmp_path):
    env = {"SOLARCNN_CACHE": str(tmp_path / "cache")}
    if not os.environ.get("SOLARCNN_DATA_MIRROR"):
        pytest.fail("this test reads the real data through the mirror: set SOLARCNN_DATA_MIRROR")
    from solarcnn.data import list_datasets

    fetched = _run("data", "fetch", "--all", "-q", env=env)
    assert fetched.returncode == 0, fetched.stderr
    names = list_datasets(kind="files")
    assert [line.split(":")[0] for line in fetched.stdout.splitlines()] == names
    assert "\r" not in fetched.stdout + fetched.stderr          # no progress bar off a terminal
    verified = _run("data", "verify", "--all", "-q", env=env)
    assert verified.returncode == 0 and verified.stdout.splitlines() == [f"{n}: all files ok" for n in names]
    # a damaged file: verify --all fails (exit 1) and names it
    victim = next(p for p in sorted((tmp_path / "cache" / "cam5_grid").rglob("*")) if p.is_file())
    victim.write_bytes(b"damaged")
    bad = _run("data", "verify", "--all", "-q", env=env)
    assert bad.returncode == 1 and str(victim) in bad.stderr and "cam5_grid: 1 file(s) failed" in bad.stdout


def _on_a_terminal(*args, env):
    """Run the CLI with stdout and stderr on a pseudo-terminal; return (exit code, everything it wrote)."""
    main_fd, side_fd = os.openpty()
    proc = subprocess.Popen([*SOLARCNN, *map(str, args)], stdin=side_fd, stdout=side_fd, stderr=side_fd,
                            env={**os.environ, **env})
    os.close(side_fd)
    out = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:                      # EIO: the command closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main_fd)
    return proc.wait(timeout=300), out.decode(errors="replace")


def test_progress_bars_on_a_terminal_only_and_off_with_no_progress(tmp_path):
    env = {"SOLARCNN_CACHE": str(tmp_path / "cache")}
    code, out = _on_a_terminal("data", "fetch", "goes_flares", env=env)
    redraws = out.replace("\r\n", "\n")                              # a terminal ends lines with \r\n
    assert code == 0 and "goes_flares: 17 mirror" in out, out
    assert "\r" in redraws and "goes_flares:   0%" in out and "/17 [" in out and "mirror  " not in out   # a bar
    code, out = _on_a_terminal("data", "verify", "goes_flares", "--no-progress", env=env)
    assert code == 0 and "goes_flares: all files ok" in out
    assert out.count("\nok ") == 16 and "\r" not in out.replace("\r\n", "\n")   # a line per file, no bar


def test_stale_partial_files_are_removed(tmp_path):
    cache = tmp_path / "cache"
    folder = cache / "cam5_grid"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                           # a pid that no longer runs
    from solarcnn.data import manifest

    name = Path(manifest("cam5_grid").files[0].path).name
    stale = [folder / f".part-{dead.pid}-1-{name}", folder / f".{name}.part-{dead.pid}-abcd1234"]
    for s in stale:
        s.write_bytes(b"half a download")
    proc = _run("data", "fetch", "cam5_grid", env={"SOLARCNN_CACHE": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert not any(s.exists() for s in stale)
    assert sorted(p.name for p in folder.iterdir()) == [name]


def test_read_only_cache_names_solarcnn_cache(tmp_path, monkeypatch, capsys):
    from solarcnn.data import registry

    monkeypatch.setenv("SOLARCNN_CACHE", str(tmp_path / "ro-cache"))

    def read_only(src, dest, *a, **k):                    # what a read-only file system answers
        raise OSError(errno.EROFS, "Read-only file system", str(dest))

    monkeypatch.setattr(registry, "copy_verified", read_only)
    if registry.mirror_dir() is None:
        pytest.fail("set SOLARCNN_DATA_MIRROR (the test copies from the mirror)")
    assert cli.main(["data", "fetch", "cam5_grid"]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "$SOLARCNN_CACHE" in err and "Read-only file system" in err
    with pytest.raises(registry.DataFileError, match=r"cannot write into the data cache .*set \$SOLARCNN_CACHE"):
        registry.fetch("cam5_grid")


def test_failing_notebook_is_reported_in_a_few_lines(tmp_path, monkeypatch, capsys):
    d = tmp_path / "nb"
    d.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "tiny"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Fixture"), params,
                nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, d / "01_bad.ipynb")
    monkeypatch.setattr(runner, "notebook_dir", lambda: d)
    assert cli.main(["run", "01", "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 1
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines[0] == "solarcnn: error: notebook 01_bad failed in cell 4: ZeroDivisionError: division by zero"
    assert len(lines) <= 5 and "Traceback" not in err
    assert any(f"the executed copy {tmp_path / 'r' / 'failed' / '01_bad.ipynb'}" in line for line in lines)
    assert "[1/1] 01_bad FAILED after" in out


NOISE = ["Kernel is running over TCP without encryption", "Task was destroyed but it is pending",
         "Unable to parse line", "absl::InitializeLog", "cuda_platform", "cudart_stub", "oneDNN custom operations",
         "WARNING:", "E0000", "I0000", "W0000", "XLA", "Traceback"]


def test_the_main_job_is_quiet(tmp_path):
    """A notebook through the runner (00, the fastest): the terminal gets its line and the summary only."""
    run = tmp_path / "runs"
    proc = _run("run", "00", "--run-dir", run, "--no-progress", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""
    lines = proc.stdout.strip().splitlines()
    assert re.match(r"^\[1/1\] 00_welcome done in \d+ s · \w+ = \S+", lines[0]), lines
    assert lines[1:] == ["", f"Executed notebooks: {run}", f"Results table:      {run / 'results.md'}",
                         f"Framework log:      {run / runner.LOG_NAME}"]
    for noise in NOISE:
        assert noise not in proc.stdout, noise
    log = (run / runner.LOG_NAME).read_text()
    assert "===== 00_welcome (profile tiny)" in log
