"""Run any medigan model card with framework ``onnx`` on onnxruntime (no torch, no tensorflow).

Another plugin registers an ONNX generator by giving its card an ``onnx`` section and the loader
``"medigan_plugin_onnx.runtime:load"``; ONNX models kept in folders named by ``MEDIGAN_ONNX_MODELS`` are registered
by this plugin itself. Importing this package imports nothing heavy; onnxruntime is imported when a model is loaded.
"""

__version__ = "0.1.0"
