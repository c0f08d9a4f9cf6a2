"""The notebook runner: strict parameters and profiles, run folder, results table, failures."""
import json

import nbformat
import pytest

from solarcnn.course import runner
from solarcnn.course.cli import main
from solarcnn.errors import ParameterError


def _notebook(path, body="solarcnn.record('epochs_seen', epochs or 0)", tagged=True,
              params='PROFILE = "tiny"\nepochs = None'):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(params)
    if tagged:
        params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Fixture"), params,
                nbformat.v4.new_code_cell("import solarcnn\n" + body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def nbdir(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d / "01_first.ipynb")
    _notebook(d / "02_second.ipynb", body="solarcnn.record('profile_len', len(PROFILE))")
    _notebook(d / "notes.ipynb")                     # not numbered: ignored
    return d


def test_resolve_and_list(nbdir):
    assert [p.name for p in runner.list_notebooks(nbdir)] == ["01_first.ipynb", "02_second.ipynb"]
    assert runner.resolve("1", nbdir).name == "01_first.ipynb"
    assert runner.resolve("second", nbdir).name == "02_second.ipynb"
    with pytest.raises(ParameterError, match="no notebook matches '07'; the notebooks are: 01_first, 02_second"):
        runner.resolve("07", nbdir)


def test_parse_value():
    assert runner.parse_value("3") == 3 and runner.parse_value("0.5") == 0.5
    assert runner.parse_value("true") is True and runner.parse_value("adam") == "adam"
    assert runner.parse_value("[64, 64]") == [64, 64]
    assert runner.parse_value("1e-4") == 1e-4 and runner.parse_value("[1e-05, 0.01]") == [1e-5, 0.01]


def test_run_collects_metrics_into_table(nbdir, tmp_path):
    res = runner.run_notebooks(["01", "02"], profile="full", parameters={"epochs": 3}, run_dir=tmp_path / "run",
                               notebooks_dir=nbdir, progress=False)
    assert (tmp_path / "run" / "01_first.ipynb").exists() and res.failed is None
    executed = nbformat.read(tmp_path / "run" / "01_first.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters == {"PROFILE": "full", "epochs": 3}
    rows = json.loads(res.results_json.read_text())
    values = {(r["notebook"], r["metric"]): r["value"] for r in rows}
    assert values[("01_first", "epochs_seen")] == 3
    assert values[("02_second", "profile_len")] == len("full")
    assert ("01_first", "wall_time") in values
    assert "| 01_first | epochs_seen | 3 |" in res.results_md.read_text()


def test_unknown_parameter_stops_before_running(nbdir, tmp_path):
    with pytest.raises(ParameterError, match=r"01_first.ipynb: unknown parameter\(s\) \['epohcs'\]; "
                                             r"this notebook declares \['PROFILE', 'epochs'\]"):
        runner.run_notebooks(["01"], parameters={"epohcs": 3}, run_dir=tmp_path / "r", notebooks_dir=nbdir)
    assert not (tmp_path / "r").exists()


def test_unknown_profile_and_profile_as_parameter(nbdir, tmp_path):
    with pytest.raises(ParameterError, match=r"unknown profile 'gpu'; the profiles are \['full', 'tiny'\]"):
        runner.run_notebooks(["01"], profile="gpu", run_dir=tmp_path / "r", notebooks_dir=nbdir)
    with pytest.raises(ParameterError, match="not as a parameter"):
        runner.run_notebooks(["01"], parameters={"PROFILE": "full"}, run_dir=tmp_path / "r", notebooks_dir=nbdir)


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    _notebook(d / "01_untagged.ipynb", tagged=False)
    with pytest.raises(ParameterError, match="has no cell tagged 'parameters'"):
        runner.run_notebooks(["01"], run_dir=tmp_path / "r", notebooks_dir=d)


def test_failing_notebook_keeps_executed_copy(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    _notebook(d / "01_bad.ipynb", body="raise RuntimeError('boom in the notebook')")
    with pytest.raises(runner.NotebookExecutionError) as info:
        runner.run_notebooks(["01"], run_dir=tmp_path / "r", notebooks_dir=d, progress=False)
    kept = tmp_path / "r" / "failed" / "01_bad.ipynb"
    message = str(info.value)
    assert message.splitlines()[0] == "notebook 01_bad failed in cell 3: RuntimeError: boom in the notebook"
    assert f"full traceback: the executed copy {kept}" in message and len(message.splitlines()) <= 5
    assert info.value.cell == 3 and info.value.executed_copy == kept
    out = nbformat.read(kept, as_version=4)
    assert any(o.get("output_type") == "error" for c in out.cells for o in c.get("outputs", []))
    assert not (tmp_path / "r" / "01_bad.ipynb").exists()      # never a good result
    assert (tmp_path / "r" / "results.md").exists()


def _tree(folder):
    """{relative path: bytes} of every file under `folder`, the staging/log/failed extras left out."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != runner.LOG_NAME and "failed" not in p.parts
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def test_failing_rerun_keeps_previous_good_result_byte_for_byte(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    flaky = {"params": 'PROFILE = "tiny"\nseed = 42\nepochs = None'}
    nb = _notebook(d / "01_flaky.ipynb", body="solarcnn.record('epochs_seen', epochs or 0)", **flaky)
    run = tmp_path / "r"
    runner.run_notebooks(["01"], parameters={"epochs": 2}, run_dir=run, notebooks_dir=d, progress=False)
    before = _tree(run)
    assert {"01_flaky.ipynb", "metrics/01_flaky.json", "results.json", "results.md"} <= set(before)
    _notebook(nb, body="raise RuntimeError('this run fails')", **flaky)    # same notebook, now failing
    with pytest.raises(runner.NotebookExecutionError, match="this run fails"):
        runner.run_notebooks(["01"], run_dir=run, notebooks_dir=d, progress=False)
    assert _tree(run) == before                                        # results and executed copy intact
    assert not list(run.glob(".01_flaky.run-*"))                       # no staging left behind
    assert (run / "failed" / "01_flaky.ipynb").exists()
    # a refused parameter (seed = 42 in the cell: an int) does not even touch the folder
    with pytest.raises(ParameterError, match=r"01_flaky: parameter 'seed' must be int .*received 'abc' \(str\)"):
        runner.run_notebooks(["01"], parameters={"seed": "abc"}, run_dir=run, notebooks_dir=d)
    assert _tree(run) == before
    # the next good run replaces the result and clears the stale failure
    _notebook(nb, body="solarcnn.record('epochs_seen', epochs or 0)", **flaky)
    res = runner.run_notebooks(["01"], parameters={"epochs": 5}, run_dir=run, notebooks_dir=d, progress=False)
    assert res.failures == [] and not (run / "failed" / "01_flaky.ipynb").exists()
    assert json.loads((run / "metrics" / "01_flaky.json").read_text())["epochs_seen"]["value"] == 5


def test_keep_going_reports_every_failure(tmp_path, capfd):
    d = tmp_path / "nb"
    d.mkdir()
    _notebook(d / "01_bad.ipynb", body="raise ValueError('first')")
    _notebook(d / "02_good.ipynb")
    res = runner.run_notebooks(None, run_dir=tmp_path / "r", notebooks_dir=d, progress=False, stop_on_error=False)
    assert res.failures == ["01_bad"] and res.executed == [tmp_path / "r" / "02_good.ipynb"]
    out, err = capfd.readouterr()
    assert "[1/2] 01_bad FAILED after" in out and "[2/2] 02_good done in" in out
    assert "solarcnn: error: notebook 01_bad failed in cell 3: ValueError: first" in err


def test_cli_reports_errors_clearly(capsys):
    assert main(["run", "02", "--profile", "huge"]) == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err
    assert main(["run", "00", "-p", "not_a_parameter", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) ['not_a_parameter']" in err and "00_welcome.ipynb" in err
    assert main(["run"]) == 2 and "--all" in capsys.readouterr().err


def test_cli_lists_its_commands_and_bench_passes_options_through(capsys):
    from solarcnn.course.cli import build_parser

    text = build_parser().format_help()
    for command in ("run", "data", "book", "synthetic", "bench"):
        assert command in text
    assert main(["bench", "--list"]) == 0                       # "--list" reached the suite, which exits 0


def _course_notebooks():
    return runner.list_notebooks()


@pytest.mark.parametrize("nb", _course_notebooks(), ids=lambda p: p.stem)
def test_every_declared_parameter_of_every_notebook_passes_the_runner_checks(nb):
    """Each profile setting of each notebook is declared in its parameters cell, found by the runner's parser,
    and accepted with a value of its type from the profile file (the full profile's, as -p would give it)."""
    from solarcnn import profiles

    declared = runner.declared_parameters(nb)
    settings = profiles.table(nb.stem)
    assert set(settings["full"]) <= set(declared), sorted(set(settings["full"]) - set(declared))
    for key, value in settings["full"].items():
        text = value if isinstance(value, str) and value else json.dumps(value)   # as typed after -p NAME
        checked = runner.check_parameters(nb, {key: runner.parse_value(text), "PROFILE": "tiny"})
        assert checked[key] == value and type(checked[key]) is type(value), (key, value, checked[key])
    assert runner.check_parameters(nb, {"seed": 7})["seed"] == 7


@pytest.mark.parametrize("nb", _course_notebooks(), ids=lambda p: p.stem)
def test_papermill_parses_every_parameter_line_too(nb):
    """papermill's own line parser (its 'Passed unknown parameter' check) sees the same names as the runner's,
    so no notebook makes it warn "Unable to parse line ..." (e.g. an '=' in a comment)."""
    import papermill as pm

    assert set(pm.inspect_notebook(str(nb))) == set(runner.declared_parameters(nb))


@pytest.mark.parametrize("key, text, expected", [
    ("epochs", "abc", r"parameter 'epochs' must be int \(like the profiles' 5 / 15\); received 'abc' \(str\)"),
    ("epochs", "0", r"parameter 'epochs' must be >= 1 \(a count or size\); received 0"),
    ("epochs", "2.5", r"parameter 'epochs' must be int .*received 2.5 \(float\)"),
    ("val_fraction", "1.5", r"parameter 'val_fraction' must lie in \[0, 1\]; received 1.5"),
    ("learning_rate", "-0.1", r"parameter 'learning_rate' must be > 0; received -0.1"),
    ("lr_schedule", "3", r"parameter 'lr_schedule' must be str .*received 3 \(int\)"),
    ("n_jobs", "0", r"parameter 'n_jobs' must not be 0"),
    ("batch_size", "true", r"parameter 'batch_size' must be int .*received True \(bool\)"),
    ("seed", "abc", r"parameter 'seed' must be int .*received 'abc' \(str\)"),
])
def test_wrong_type_or_range_is_refused_naming_notebook_parameter_value(key, text, expected):
    nb = runner.resolve("02")
    with pytest.raises(ParameterError, match="02_slic_feature_classifier: " + expected):
        runner.check_parameters(nb, {key: runner.parse_value(text)})


def test_profile_checks_overrides():
    import solarcnn

    with pytest.raises(ParameterError, match=r"02_slic_feature_classifier: parameter 'epochs' must be int "
                                             r"\(like the profiles' 5 / 15\); received 'abc' \(str\)"):
        solarcnn.profile("02_slic_feature_classifier", "tiny", epochs="abc", verbose=False)
    with pytest.raises(ParameterError, match=r"03_cirrus_sky_classification: parameter 'filters' must be list of "
                                             r"int; received \[16, 'a'\]"):
        solarcnn.profile("03_cirrus_sky_classification", "tiny", filters=[16, "a"], verbose=False)
    cfg = solarcnn.profile("02_slic_feature_classifier", "tiny", learning_rate=1, width_multiplier=0.5,
                           verbose=False)
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float) and cfg.width_multiplier == 0.5


def test_cli_refuses_a_bad_value_before_anything_runs(tmp_path, monkeypatch):
    import papermill

    def must_not_run(*a, **k):
        raise AssertionError("papermill was called")

    monkeypatch.setattr(papermill, "execute_notebook", must_not_run)
    run = tmp_path / "r"
    assert main(["run", "02", "-p", "epochs", "abc", "--run-dir", str(run)]) == 2
    assert not run.exists()


def test_kill_9_during_a_run_keeps_the_previous_result(tmp_path):
    """A real kill -9 of the runner (and its kernel) mid-notebook: the last good result stays byte for byte,
    and the next run clears the dead run's staging folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    d = tmp_path / "nb"
    d.mkdir()
    nb = _notebook(d / "01_slow.ipynb")
    run = tmp_path / "r"
    runner.run_notebooks(["01"], parameters={"epochs": 2}, run_dir=run, notebooks_dir=d, progress=False)
    before = _tree(run)
    marker = tmp_path / "started"
    _notebook(nb, body=f"open({str(marker)!r}, 'w').close()\nimport time\ntime.sleep(120)")
    code = (f"from solarcnn.course import runner\n"
            f"runner.run_notebooks(['01'], parameters={{'epochs': 3}}, run_dir={str(run)!r}, "
            f"notebooks_dir={str(d)!r}, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, "the notebook did not start"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)               # the runner and its kernel, at once
        proc.wait()
    assert list(run.glob(".01_slow.run-*"))               # the dead run's staging folder is there
    assert _tree(run) == before
    _notebook(nb)
    runner.run_notebooks(["01"], parameters={"epochs": 4}, run_dir=run, notebooks_dir=d, progress=False)
    assert not list(run.glob(".01_slow.run-*"))
    assert json.loads((run / "metrics" / "01_slow.json").read_text())["epochs_seen"]["value"] == 4
