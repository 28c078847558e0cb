"""Training pipelines: the PyTorch dataset and the TensorFlow ``tf.data`` pipeline over a model's samples (the
framework imported only here). Depend on the core and on :mod:`medigan_host.generation` and
:mod:`medigan_host.formats`."""
