"""Procedural phantoms for medigan: NumPy only, no weights, deterministic per seed."""

__version__ = "0.1.0"
