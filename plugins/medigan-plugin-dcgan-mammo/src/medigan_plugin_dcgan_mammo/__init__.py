"""medigan's DCGAN generators for mammography regions of interest (PyTorch, weights as safetensors)."""

__version__ = "0.1.0"
