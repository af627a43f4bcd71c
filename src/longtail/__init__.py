"""Subsampled memorization and influence estimation (Feldman & Zhang, NeurIPS 2020)."""

__version__ = "0.1.0"
