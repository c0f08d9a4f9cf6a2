"""The notebook runner: strict parameters and profiles, run folder, results table, failures."""
import json

import nbformat
import pytest

from solarcnn.course import runner
from solarcnn.course.cli import main
from solarcnn.errors import ParameterError


def _notebook(path, body="solarcnn.record('epochs_seen', epochs or 0)", tagged=True):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "tiny"\nepochs = None')
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
    with pytest.raises(Exception, match="boom in the notebook"):
        runner.run_notebooks(["01"], run_dir=tmp_path / "r", notebooks_dir=d, progress=False)
    out = nbformat.read(tmp_path / "r" / "01_bad.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in out.cells for o in c.get("outputs", []))
    assert (tmp_path / "r" / "results.md").exists()


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
