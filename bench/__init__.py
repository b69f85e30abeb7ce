"""Benchmarks of the procurement services: `python -m bench` (see bench/README.md)."""
