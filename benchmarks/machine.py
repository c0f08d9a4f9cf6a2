"""Machine description and peak FLOP/s, the denominator of model-FLOPs utilisation (MFU).

CPU peak is an **estimate of the hardware peak**, not of performance:
``cores x clock x FLOPs/cycle/core``, with FLOPs/cycle read from the instruction-set
flags (`lscpu`/``/proc/cpuinfo``) and the micro-architecture (table below), and the
clock from ``/proc/cpuinfo`` / cpufreq / BogoMIPS.  GPU peaks are the vendor's dense
(no sparsity) tensor-core numbers from the data sheets.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

# Dense tensor-core peaks, TFLOP/s, from the NVIDIA data sheets (no 2:4 sparsity).
GPU_PEAK_TFLOPS = {
    # name pattern (matched case-insensitively against the device name): (bf16, fp32 non-tensor)
    "H200": (989.4, 66.9),
    "H100 PCIe": (756.0, 51.2),
    "H100 NVL": (835.0, 60.0),
    "H100": (989.4, 66.9),          # SXM5 (the H100 80GB HBM3 of the GPU machine)
    "A100": (312.0, 19.5),
    "L40S": (362.05, 91.6),
}


def gpu_peak_flops(device_name: str, dtype: str = "bfloat16") -> tuple[float | None, str]:
    """(peak FLOP/s, source string) for a GPU name such as ``"NVIDIA H100 80GB HBM3"``."""
    for pattern, (bf16, fp32) in GPU_PEAK_TFLOPS.items():
        if pattern.lower() in device_name.lower():
            tf = bf16 if dtype in ("bfloat16", "float16", "mixed_bfloat16", "mixed_float16") else fp32
            return tf * 1e12, f"{pattern} {dtype} dense peak {tf} TFLOP/s (NVIDIA data sheet)"
    return None, f"no peak known for {device_name!r}"


def _cpuinfo() -> dict:
    info: dict = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if ":" in line:
            k, v = (s.strip() for s in line.split(":", 1))
            info.setdefault(k, v)
    return info


def _clock_ghz(info: dict) -> tuple[float | None, str]:
    for p in ("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq",):
        try:
            return int(Path(p).read_text()) / 1e6, "cpufreq cpuinfo_max_freq"
        except (OSError, ValueError):
            pass
    m = re.search(r"@\s*([\d.]+)\s*GHz", info.get("model name", ""))
    if m:
        return float(m.group(1)), "model name"
    if info.get("cpu MHz"):
        return float(info["cpu MHz"]) / 1e3, "/proc/cpuinfo cpu MHz"
    if info.get("bogomips"):
        return float(info["bogomips"]) / 2e3, "BogoMIPS/2 (= TSC clock)"
    return None, "unknown"


def fp32_flops_per_cycle(flags: set, vendor: str, family: int | None) -> tuple[int, str]:
    """Peak fp32 FLOPs per cycle per core from ISA flags and micro-architecture.

    Two FMA pipes are assumed on every x86 core since Haswell / Zen 1.
    AMD Zen 4 (family 0x19) executes AVX-512 on 256-bit pipes; Zen 5 (family 0x1A) and
    Intel server cores with AVX-512 have full 512-bit FMA pipes.
    """
    if "avx512f" in flags:
        if vendor == "AuthenticAMD" and family is not None and family < 26:
            return 32, "AVX-512 on 2x256-bit FMA pipes (AMD Zen 4): 2 x 8 lanes x 2"
        return 64, "AVX-512 with 2x512-bit FMA pipes: 2 FMA x 16 fp32 lanes x 2 FLOPs"
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2+FMA, 2x256-bit FMA pipes: 2 x 8 lanes x 2"
    if "avx" in flags:
        return 16, "AVX without FMA: 8-lane add + 8-lane mul"
    return 8, "SSE: 4-lane add + 4-lane mul"


ISA_FLAGS = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512F", "avx512_vnni": "AVX512-VNNI",
             "avx512_bf16": "AVX512-BF16", "avx512_fp16": "AVX512-FP16", "amx_tile": "AMX-TILE",
             "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8", "amx_fp16": "AMX-FP16"}


def isa_features(flags: set | None = None) -> dict:
    """The vector/matrix ISA features relevant to fp32 and bf16 peaks, ``{name: present}``, from the
    ``/proc/cpuinfo`` flags (or `flags`)."""
    if flags is None:
        flags = set(_cpuinfo().get("flags", "").split())
    return {name: flag in flags for flag, name in ISA_FLAGS.items()}


def bf16_flops_per_cycle(flags: set, vendor: str, family: int | None) -> tuple[int | None, str]:
    """Estimated peak bf16 FLOPs per cycle per core (matrix products with fp32 accumulation), or None
    without bf16 units. An **estimate** from the instruction's shape and its documented throughput:

    - AMX-BF16: ``TDPBF16PS`` multiplies a 16x32 by a 32x16 bf16 tile into a 16x16 fp32 tile
      (16 x 16 x 32 = 8192 multiply-adds) and issues once every 16 cycles per core (Intel's optimisation
      manual, Sapphire Rapids): 512 multiply-adds = 1024 FLOPs per cycle.
    - AVX512-BF16 without AMX: ``VDPBF16PS`` does 2 bf16 multiply-adds in each of 16 fp32 lanes (32 per
      instruction = 64 FLOPs); two 512-bit FMA pipes give 128 FLOPs per cycle (2x fp32), half on AMD Zen 4's
      256-bit pipes.
    Real kernels reach a fraction of this (tile loads, conversions, memory bandwidth); the AMX clock may be
    lower than the AVX clock used here.
    """
    if "amx_bf16" in flags:
        return 1024, ("AMX-BF16 estimate: TDPBF16PS = 16x16x32 = 8192 bf16 multiply-adds per 16 cycles per core "
                      "-> 512 MAC = 1024 FLOPs/cycle")
    if "avx512_bf16" in flags:
        if vendor == "AuthenticAMD" and family is not None and family < 26:
            return 64, "AVX512-BF16 estimate on 2x256-bit pipes (Zen 4): 2 x 16 MAC x 2 = 64 FLOPs/cycle"
        return 128, "AVX512-BF16 estimate: VDPBF16PS 32 MAC per 512-bit instruction x 2 pipes x 2 = 128 FLOPs/cycle"
    return None, "no bf16 units (AVX512-BF16 / AMX-BF16 absent): bf16 runs at the fp32 rate or slower"


def cpu_peak_flops(n_threads: int | None = None, dtype: str = "float32") -> tuple[float | None, str]:
    """Estimated peak FLOP/s of the CPU cores this process may use, for `dtype` ``"float32"`` (FMA peak) or
    ``"bfloat16"`` (`bf16_flops_per_cycle`; the fp32 peak where the CPU has no bf16 units)."""
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be 'float32' or 'bfloat16'; received {dtype!r}")
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    vendor = info.get("vendor_id", "")
    try:
        family = int(info.get("cpu family", ""))
    except ValueError:
        family = None
    cores = n_threads or len(os.sched_getaffinity(0))
    ghz, clock_src = _clock_ghz(info)
    fpc, fpc_src = fp32_flops_per_cycle(flags, vendor, family)
    if ghz is None:
        return None, "clock unknown"
    kind = "fp32"
    if dtype == "bfloat16":
        bpc, bpc_src = bf16_flops_per_cycle(flags, vendor, family)
        if bpc is not None:
            fpc, fpc_src, kind = bpc, bpc_src, "bf16"
        else:
            fpc_src = f"{fpc_src}; {bpc_src}"
    peak = cores * ghz * 1e9 * fpc
    return peak, (f"estimate of peak: {cores} cores x {ghz:.3f} GHz ({clock_src}) x {fpc} {kind} FLOPs/cycle "
                  f"({fpc_src}) = {peak / 1e9:.0f} GFLOP/s")


def machine_info() -> dict:
    """Host description for the results header (no backend imported)."""
    info = _cpuinfo()
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    peak, how = cpu_peak_flops()
    peak_bf16, how_bf16 = cpu_peak_flops(dtype="bfloat16")
    gpu = None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            gpu = out.stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "hostname": platform.node(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": info.get("model name", platform.processor()),
        "cpu_family": info.get("cpu family"),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gb": mem_gb,
        "cpu_peak_fp32_flops": peak,
        "cpu_peak_how": how,
        "cpu_peak_bf16_flops": peak_bf16,
        "cpu_peak_bf16_how": how_bf16,
        "isa": isa_features(set(info.get("flags", "").split())),
        "gpus": gpu,
    }


def package_versions(mods=("keras", "numpy", "tensorflow", "jax", "jaxlib", "torch", "h5py", "astropy",
                           "skimage", "solarcnn")) -> dict:
    """Installed versions, read from metadata so no framework gets imported."""
    from importlib import metadata

    dist = {"skimage": "scikit-image", "tensorflow": "tensorflow-cpu"}
    out = {}
    for m in mods:
        for name in (dist.get(m, m), m):
            try:
                out[m] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            out[m] = None
    if out.get("tensorflow") is None:
        try:
            out["tensorflow"] = metadata.version("tensorflow")
        except metadata.PackageNotFoundError:
            pass
    return out
