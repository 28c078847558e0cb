"""The original medigan library's 23 models, run with their own code in an isolated environment per model."""

__version__ = "0.1.0"
