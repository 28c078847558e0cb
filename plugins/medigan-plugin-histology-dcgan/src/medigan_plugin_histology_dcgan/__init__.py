"""A DCGAN trained in the medigan repository on real immunohistochemistry images (64x64 colon histology patches).

Two cards for one network: ``histology-ihc-dcgan`` runs the safetensors weights on PyTorch,
``histology-ihc-dcgan-onnx`` runs the ONNX export on onnxruntime alone. Both files ship inside this package.
Importing it imports nothing heavy.
"""

__version__ = "1.4.0"
