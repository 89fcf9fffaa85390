"""Benchmarks the command line runs: model quality on real datasets under fixed protocols."""
