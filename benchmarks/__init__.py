"""The benchmark scripts of docs/benchmarks.md, run as modules: `python -m benchmarks.pruning`."""
