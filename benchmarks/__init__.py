"""solarcnn speed benchmarks: each one a ratio against a reference timed in the same run.

Run ``python -m benchmarks --quick`` (whole suite, reduced sizes, < 5 min on 2 cores)
or ``python -m benchmarks slic deepcam_loader --backend tensorflow,jax``.
Results: ``benchmarks/results/latest.{json,md}``; see ``benchmarks/RESULTS.md``.
"""
