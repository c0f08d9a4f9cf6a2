"""The benchmark driver: ``python -m benchmarks [--quick] [NAME ...] [--backend ...]``.

Every model measurement runs in a fresh subprocess with ``KERAS_BACKEND`` set
(one backend per process), one at a time, so the machine stays usable and the
backends do not share threads or memory.  Results are written to
``benchmarks/results/bench-<time>.json`` and ``.md`` (and ``latest.*``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import data as data_bench
from benchmarks import machine
from benchmarks.flops import TRAIN_FLOPS_FACTOR

MODEL_NAMES = ["slic", "cirrus_unet", "deeplabv3plus", "flare_resnet34"]
DATA_NAMES = ["fits_prep", "cirrus_masks", "deepcam_loader"]
GROUPS = {"models": MODEL_NAMES, "data": DATA_NAMES, "all": MODEL_NAMES + DATA_NAMES}
BACKENDS = ("tensorflow", "jax", "torch")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=[],
                   help=f"benchmarks or groups to run (default: all). Models: {', '.join(MODEL_NAMES)}; "
                        f"data: {', '.join(DATA_NAMES)}; groups: {', '.join(GROUPS)}")
    p.add_argument("--quick", action="store_true",
                   help="reduced input sizes/widths and few steps: the whole suite in < 5 min on a 2-core CPU")
    p.add_argument("--backend", default=None,
                   help="comma-separated Keras backends (tensorflow,jax,torch). Default: all three on CPU "
                        "(tensorflow,jax with --quick), jax when a GPU is visible")
    p.add_argument("--no-reference", action="store_true", help="skip the PyTorch reference runs")
    p.add_argument("--mixed-precision", action="store_true",
                   help="same as --precision bfloat16 (kept for old command lines)")
    p.add_argument("--precision", default=None,
                   help="comma-separated precisions of the model benchmarks: float32, bfloat16 (Keras policy "
                        "mixed_bfloat16 against torch.autocast(bfloat16)). Default: float32,bfloat16; float32 "
                        "with --quick")
    p.add_argument("--pairs", type=int, default=None,
                   help="interleaved Keras/PyTorch block pairs per measurement (default 5 quick, 7 full)")
    p.add_argument("--block", type=int, default=None,
                   help="fewest steps per block of a pair (default 2; more where a block would last under 0.5 s)")
    p.add_argument("--size", choices=("quick", "full"), default=None,
                   help="model input sizes (default: quick with --quick, else full = paper sizes)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps of a one-sided measurement (--no-reference; default 6 quick, 10 full)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps (default 2 quick, 3 full)")
    p.add_argument("--batch", type=int, default=None, help="override every model's batch size")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (default benchmarks/results)")
    p.add_argument("--timeout", type=int, default=900, help="seconds allowed per subprocess")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return p


def resolve_names(names: list[str]) -> list[str]:
    """Expand groups, keep order, reject unknown names with the list of valid ones."""
    if not names:
        names = ["all"]
    out: list[str] = []
    for n in names:
        for item in GROUPS.get(n, [n]):
            if item not in GROUPS["all"]:
                raise SystemExit(f"unknown benchmark {n!r}; choose from {', '.join(GROUPS['all'] + list(GROUPS))}")
            if item not in out:
                out.append(item)
    return out


def resolve_backends(arg: str | None, gpu: bool, quick: bool = False) -> list[str]:
    """Keras backends to time. Default: jax on a GPU; on CPU all three, or tensorflow + jax with --quick."""
    if arg is None:
        return ["jax"] if gpu else (["tensorflow", "jax"] if quick else list(BACKENDS))
    out = [b.strip() for b in arg.split(",") if b.strip()]
    bad = [b for b in out if b not in BACKENDS]
    if bad or not out:
        raise SystemExit(f"--backend must be a comma-separated subset of {','.join(BACKENDS)}; received {arg!r}")
    return out


def resolve_precisions(arg: str | None, mixed_precision: bool = False, quick: bool = False) -> list[str]:
    """Precisions to time: `arg` (comma-separated), else bfloat16 for --mixed-precision, else float32 and
    bfloat16 (float32 alone with --quick)."""
    from benchmarks.models import PRECISIONS

    if arg is None:
        return ["bfloat16"] if mixed_precision else (["float32"] if quick else list(PRECISIONS))
    out = [p.strip() for p in arg.split(",") if p.strip()]
    bad = [p for p in out if p not in PRECISIONS]
    if bad or not out:
        raise SystemExit(f"--precision must be a comma-separated subset of {','.join(PRECISIONS)}; "
                         f"received {arg!r}")
    return list(dict.fromkeys(out))


def _gpu_visible() -> bool:
    return bool(machine.machine_info().get("gpus"))


def _run_worker(items: list[dict], env_extra: dict, timeout: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="solarcnn-bench-") as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job.write_text(json.dumps({"items": items}))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO) + os.pathsep +
               os.environ.get("PYTHONPATH", ""), **env_extra}
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "benchmarks._worker", str(job), str(out)], env=env,
                                  cwd=REPO, capture_output=True, text=True, timeout=timeout)
            err = proc.stderr[-2000:] if proc.returncode else ""
        except subprocess.TimeoutExpired:
            err = f"timed out after {timeout} s"
        wall = time.perf_counter() - t0
        results = json.loads(out.read_text()) if out.exists() else []
    done = len(results)
    for item in items[done:]:
        results.append({**item, "error": err or "worker produced no result"})
    for r in results:
        r.setdefault("process_wall_s", wall)
    return results


def run(args) -> dict:
    names = resolve_names(args.names)
    gpu = _gpu_visible()
    backends = resolve_backends(args.backend, gpu, quick=bool(args.quick))
    size = args.size or ("quick" if args.quick else "full")
    steps = args.steps or (6 if args.quick else 10)
    warmup = args.warmup or (2 if args.quick else 3)
    precisions = resolve_precisions(getattr(args, "precision", None), bool(args.mixed_precision),
                                    bool(args.quick))
    pairs = getattr(args, "pairs", None) or (5 if args.quick else 7)
    block = getattr(args, "block", None) or 2
    info = machine.machine_info()
    report = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": bool(args.quick), "size": size,
              "steps": steps, "warmup": warmup, "mixed_precision": precisions == ["bfloat16"],
              "precisions": precisions, "pairs": pairs, "block": block, "interleaved": not args.no_reference,
              "machine": info, "versions": machine.package_versions(), "backends": backends,
              "models": [], "data": []}
    t0 = time.perf_counter()
    for name in names:
        if name in MODEL_NAMES:
            base = {"model": name, "size": size, "steps": steps, "warmup": warmup,
                    "mixed_precision": bool(args.mixed_precision), "batch": args.batch}
            for be in backends:
                for precision in precisions:
                    if args.no_reference:     # Keras alone
                        _log(f"{name}: Keras/{be} {precision}")
                        item = {**base, "kind": "keras", "mixed_precision": precision == "bfloat16"}
                    else:                     # Keras here, PyTorch in a child process, interleaved
                        _log(f"{name}: Keras/{be} and PyTorch, interleaved, {precision}")
                        item = {**base, "kind": "pair", "precision": precision, "pairs": pairs, "block": block}
                    report["models"] += _run_worker([item], {"KERAS_BACKEND": be}, args.timeout)
                    _checkpoint(report, args.out, t0)
        else:
            _log(f"{name}: data")
            with tempfile.TemporaryDirectory(prefix="solarcnn-bench-data-") as wd:
                extra = data_bench.WORKER_ENV.get(name, {})   # recorded with the result
                got = _run_worker([{"kind": "data", "name": name, "quick": bool(args.quick), "workdir": wd}],
                                  {"KERAS_BACKEND": "tensorflow", **extra}, args.timeout)
                report["data"] += [{**r, "worker_env": extra} if extra else r for r in got]
            _checkpoint(report, args.out, t0)
    report["total_wall_s"] = time.perf_counter() - t0
    summarise(report)
    return report


def _checkpoint(report: dict, out: Path, t0: float) -> None:
    """Write what is measured so far to ``<out>/partial.{json,md}`` (an interrupted run keeps its numbers)."""
    report["total_wall_s"] = time.perf_counter() - t0
    summarise(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "partial.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "partial.md").write_text(to_markdown(report))


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _peak_for(result: dict, report: dict) -> tuple[float | None, str]:
    """The peak matching the result's device and precision (CPU: the fp32 FMA or the bf16 estimate)."""
    dev = str(result.get("device") or "cpu")
    dtype = result.get("precision") or ("bfloat16" if report["mixed_precision"] else "float32")
    if dev.startswith("cpu"):
        m = report["machine"]
        if dtype == "bfloat16" and m.get("cpu_peak_bf16_flops"):
            return m["cpu_peak_bf16_flops"], m["cpu_peak_bf16_how"]
        return m["cpu_peak_fp32_flops"], m["cpu_peak_how"]
    return machine.gpu_peak_flops(dev, dtype)


def _summarise_pair(r: dict, report: dict) -> None:
    peak, how = _peak_for(r, report)
    r["peak_flops"], r["peak_how"] = peak, how
    r["param_parity"] = r["trainable_params"] == r.get("torch_trainable_params")
    r["flops_parity"] = r.get("forward_flops_per_sample") == r.get("torch_forward_flops_per_sample")
    fwd = r.get("forward_flops_per_sample")
    if peak and fwd:
        for who, prefix in (("keras", ""), ("torch", "torch_")):
            r[f"{prefix}train_mfu"] = TRAIN_FLOPS_FACTOR * fwd * r[f"{prefix}train_samples_per_s"] / peak
            r[f"{prefix}infer_mfu"] = fwd * r[f"{prefix}infer_samples_per_s"] / peak


def summarise(report: dict) -> None:
    """Add MFU, Keras/PyTorch ratios and parameter parity to every model result (in place)."""
    by_model: dict[str, dict] = {}
    for r in report["models"]:
        if "pairs" in r:                        # an interleaved Keras/PyTorch pair: self-contained
            if "error" not in r:
                _summarise_pair(r, report)
            continue
        by_model.setdefault(r["model"], {})[r.get("backend") or r.get("kind")] = r
        if "error" in r:
            continue
        peak, how = _peak_for(r, report)
        fwd = r.get("forward_flops_per_sample")
        r["peak_flops"], r["peak_how"] = peak, how
        if peak and fwd:
            r["train_mfu"] = TRAIN_FLOPS_FACTOR * fwd * r["train_samples_per_s"] / peak
            r["infer_mfu"] = fwd * r["infer_samples_per_s"] / peak
            r["train_achieved_gflops"] = TRAIN_FLOPS_FACTOR * fwd * r["train_samples_per_s"] / 1e9
    summary = []
    for name, rs in by_model.items():
        ref = rs.get("torch-reference")
        ok = {b: r for b, r in rs.items() if b != "torch-reference" and "error" not in r}
        row = {"model": name}
        if ref and "error" not in ref:
            row["torch_params"] = ref["trainable_params"]
            row["torch_train_sps"] = ref["train_samples_per_s"]
            row["torch_infer_sps"] = ref["infer_samples_per_s"]
            row["torch_forward_flops"] = ref["forward_flops_per_sample"]
        for b, r in ok.items():
            row[f"{b}_params"] = r["trainable_params"]
            if ref and "error" not in ref:
                r["param_parity"] = r["trainable_params"] == ref["trainable_params"]
                r["flops_parity"] = r["forward_flops_per_sample"] == ref["forward_flops_per_sample"]
                r["train_ratio_vs_torch"] = r["train_samples_per_s"] / ref["train_samples_per_s"]
                r["infer_ratio_vs_torch"] = r["infer_samples_per_s"] / ref["infer_samples_per_s"]
        others = {b: r for b, r in ok.items() if b != "tensorflow"}
        if others:
            best = max(others, key=lambda b: others[b]["train_samples_per_s"])
            row["best_other_backend"] = best
        summary.append(row)
    report["summary"] = summary


# ------------------------------------------------------------------ output
def _f(x, fmt="{:.2f}"):
    return "–" if x is None else fmt.format(x)


def to_markdown(report: dict) -> str:
    m, v = report["machine"], report["versions"]
    lines = [f"# solarcnn benchmarks ({'quick' if report['quick'] else 'full'}, sizes: {report['size']})", "",
             f"- started {report['started']}, total {report['total_wall_s']:.0f} s; "
             f"{report['steps']} timed steps after {report['warmup']} warm-up steps (median step time)",
             f"- machine: {m['cpu']} (family {m['cpu_family']}), {m['cores_usable']} usable cores, "
             f"{m['memory_gb']} GB RAM, GPUs: {', '.join(m['gpus']) if m['gpus'] else 'none'}",
             f"- CPU peak: {m['cpu_peak_how']}",
             f"- CPU bf16 peak: {m.get('cpu_peak_bf16_how', '–')}",
             "- ISA features: " + (", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["isa"].items())
                                   if m.get("isa") else "–"),
             "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
             "- precisions: " + ", ".join(report.get("precisions")
                                          or (["bfloat16"] if report["mixed_precision"] else ["float32"])),
             ""]
    pairs = [r for r in report["models"] if "pairs" in r]
    if pairs:
        lines += ["## Models, interleaved: Keras and PyTorch in two processes that take turns, one block at a time", "",
                  f"{report.get('pairs')} pairs of blocks per phase, each at least {report.get('block')} steps "
                  "and 0.5 s (order alternating "
                  "K-T, T-K); ratio = PyTorch step time / Keras step time per pair (> 1: Keras faster): median "
                  "[quartiles] (min–max). MFU against the peak of the run's precision. Keras inference runs the "
                  "package's `models.inference.predictor` (its path in the column); the last column is Keras' "
                  "`predict_on_batch` against the same PyTorch step.", "",
                  "| model | input × batch | backend | precision | params | Keras train samples/s | PyTorch | "
                  "train ratio | Keras train MFU | PyTorch MFU | Keras infer samples/s | PyTorch | infer ratio | "
                  "infer path | infer ratio, predict_on_batch |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in pairs:
            shape = "×".join(map(str, r.get("input_shape", []))) + f" × {r.get('batch')}"
            if "error" in r:
                lines.append(f"| {r['model']} | {shape} | {r.get('backend', '?')} | {r.get('precision')} | "
                             f"error: {r['error'][:120]} |" + " |" * 10)
                continue
            par = "" if r.get("param_parity", True) else " (≠ torch!)"

            def rs(phase):
                q = r[phase]["ratio"]
                return f"{q['median']:.2f} [{q['q1']:.2f}–{q['q3']:.2f}] ({q['min']:.2f}–{q['max']:.2f})"
            lines.append(
                f"| {r['model']} | {shape} | {r['backend']} | {r['precision']} | {r['trainable_params']:,}{par} | "
                f"{_f(r['train_samples_per_s'])} | {_f(r['torch_train_samples_per_s'])} | {rs('train')} | "
                f"{_f(r.get('train_mfu'), '{:.1%}')} | {_f(r.get('torch_train_mfu'), '{:.1%}')} | "
                f"{_f(r['infer_samples_per_s'])} | {_f(r['torch_infer_samples_per_s'])} | {rs('infer')} | "
                f"{r.get('infer_path', '–')} | {rs('infer_plain') if 'infer_plain' in r else '–'} |")
        lines.append("")
    if [r for r in report["models"] if "pairs" not in r]:
        from benchmarks.models import REDUCED_NOTE

        lines += ["## Models: samples/s (higher is better), Keras backend vs plain PyTorch on the same device", "",
                  "| model | input × batch | side / backend | params | fwd GFLOP/sample | train samples/s | "
                  "train MFU | ratio vs torch | infer samples/s | ratio vs torch | first step s | peak mem MB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in report["models"]:
            if "pairs" in r:
                continue
            shape = "×".join(map(str, r.get("input_shape", []))) + f" × {r.get('batch')}"
            who = r.get("backend") or r.get("kind")
            if "error" in r:
                lines.append(f"| {r['model']} | {shape} | {who} | error: {r['error'][:120]} |" + " |" * 8)
                continue
            par = "" if r.get("param_parity", True) else " (≠ torch!)"
            mem = r.get("peak_device_memory_mb") or r.get("peak_rss_mb")
            lines.append(
                f"| {r['model']} | {shape} | {who} | {r['trainable_params']:,}{par} | "
                f"{_f(r['forward_flops_per_sample'] / 1e9 if r.get('forward_flops_per_sample') else None, '{:.3f}')} | "
                f"{_f(r['train_samples_per_s'])} | {_f(r.get('train_mfu'), '{:.1%}')} | "
                f"{_f(r.get('train_ratio_vs_torch'))} | {_f(r['infer_samples_per_s'])} | "
                f"{_f(r.get('infer_ratio_vs_torch'))} | {_f(r['train']['first_step_s'], '{:.1f}')} | "
                f"{_f(mem, '{:.0f}')} |")
        if report["size"] == "quick":
            lines += ["", "Reduced (quick) configurations:", ""]
            lines += [f"- {k}: {val}" for k, val in REDUCED_NOTE.items()
                      if any(r["model"] == k for r in report["models"])]
        lines += ["", "MFU = counted model FLOPs/sample (conv + dense MACs × 2; training = 3 × forward) × samples/s "
                  "÷ peak. Peak memory: device memory on GPU, else the process's peak RSS (incl. framework import).",
                  ""]
    if report["data"]:
        lines += ["## Data preparation: package vs straightforward sequential reference", "",
                  "Ratio: median of interleaved pairs (reference time / package time); spread: "
                  "[quartiles] (min–max) of the pairs.", "",
                  "| benchmark | items | unit | package | reference | ratio | spread | notes |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in report["data"]:
            if "error" in r:
                lines.append(f"| {r.get('name')} | | | error: {r['error'][:160]} | | | | |")
                continue
            q = r.get("ratio_stats")
            spread = f"[{q['q1']:.2f}–{q['q3']:.2f}] ({q['min']:.2f}–{q['max']:.2f})" if q else "–"
            lines.append(f"| {r['name']} | {r['items']} | {r['unit']} | {_f(r.get('package_rate'))} | "
                         f"{_f(r.get('reference_rate'))} | {_f(r.get('ratio'))} | {spread} | {r.get('notes', '')} |")
        lines.append("")
    return "\n".join(lines)


def write(report: dict, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    js, md = out / f"bench-{stamp}.json", out / f"bench-{stamp}.md"
    js.write_text(json.dumps(report, indent=1, default=str))
    md.write_text(to_markdown(report))
    for src, name in ((js, "latest.json"), (md, "latest.md")):
        (out / name).write_text(src.read_text())
    return js, md


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_from_args(args)


def run_from_args(args) -> int:
    if args.list:
        for g, items in GROUPS.items():
            print(f"{g}: {' '.join(items)}")
        return 0
    report = run(args)
    js, md = write(report, args.out)
    print(to_markdown(report))
    print(f"\nwritten: {js}\n         {md}")
    errors = [r for r in report["models"] + report["data"] if "error" in r]
    return 1 if errors else 0
