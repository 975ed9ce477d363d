"""Shoal's benchmarks: one command each, a table on stdout, JSON on disk.

They measure; they never assert on timings. See bench/README.md.
"""
