"""Benchmarks: `python -m bench` runs every scenario against the real server and prints ratios."""
