"""The class-conditional Keras generator: loaded from its shipped ``.keras`` file, run on the requested device.

TensorFlow is imported here, when a model is loaded, never when models are listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medigan_host import DeviceError, ModelCard, PluginError, fetch_weights, latents

from .tf_env import apply_defaults

#: Latent size of the generator (the ``z`` input of the saved model).
LATENT = 64
#: Name of the condition the generator applies; its values' order on the card is the label index.
CONDITION = "dab"
#: Distinct stream of each seed for the class drawn when no condition is given.
_CLASS_STREAM = 0x646162


def tensorflow_device(device: str, card: ModelCard) -> str:
    """Map medigan's device (cpu, cuda, cuda:N, mps) to a TensorFlow device name, checking that it exists."""
    import tensorflow as tf

    if device == "cpu":
        return "/CPU:0"
    index = int(device.partition(":")[2] or 0) if device.startswith("cuda") else 0
    gpus = tf.config.list_physical_devices("GPU")
    if index < len(gpus):
        return f"/GPU:{index}"
    seen = f"sees {len(gpus)} GPU{'s' if len(gpus) != 1 else ''}" if gpus else "sees no GPU"
    raise DeviceError(f"model {card.id!r}: device {device!r} was asked for, but TensorFlow {seen}; use --device cpu "
                      "(or auto), or install a GPU build of TensorFlow (`pip install tensorflow[and-cuda]` on Linux)")


def class_labels(seeds: Sequence[int], condition: Mapping[str, Any] | None, values: Sequence[Any]) -> np.ndarray:
    """The class index of each sample: the condition's, or drawn from each seed (uniformly) when none is given."""
    if condition and CONDITION in condition:
        return np.full(len(seeds), list(values).index(condition[CONDITION]), dtype=np.int32)
    return np.array([np.random.default_rng([int(s), _CLASS_STREAM]).integers(len(values)) for s in seeds], dtype=np.int32)


class ConditionalGenerator:
    """Runs the Keras generator sample by sample inside one graph, so a sample never depends on its batch."""

    def __init__(self, model: Any, card: ModelCard, tf_device: str) -> None:
        import tensorflow as tf

        self.model = model
        self.card = card
        self.tf_device = tf_device
        self.values = card.conditions[CONDITION]
        self._tf = tf
        signature = [tf.TensorSpec((None, LATENT), tf.float32), tf.TensorSpec((None,), tf.int32)]
        self._run = tf.function(self._per_sample, input_signature=signature)

    def _per_sample(self, z: Any, labels: Any) -> Any:
        # Batched kernels round differently depending on a row's position in the batch; one sample per call does not.
        tf = self._tf
        return tf.map_fn(lambda item: self.model([item[0][None], item[1][None]], training=False)[0], (z, labels),
                         fn_output_signature=tf.float32, parallel_iterations=16)

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> dict:
        """One 64x64 RGB uint8 patch per seed, of the class in ``condition`` (or drawn from the seed)."""
        z = latents(seeds, LATENT)
        labels = class_labels(seeds, condition, self.values)
        with self._tf.device(self.tf_device):
            out = self._run(z, labels).numpy()
        return {"images": np.clip(np.rint((out + 1.0) * 127.5), 0, 255).astype(np.uint8)}


def load(card: ModelCard, device: str) -> ConditionalGenerator:
    """medigan loader: verify the shipped weights, load them with Keras' safe mode, place them on ``device``."""
    path = fetch_weights(card)  # the packaged .keras file, its sha256 checked against the card
    apply_defaults()  # the host does the same before its device check; here for direct calls
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise PluginError(f"model {card.id!r} needs Keras with the TensorFlow backend, but Keras runs on "
                          f"{keras.backend.backend()!r}: unset KERAS_BACKEND (or set it to tensorflow) and start again")
    tf_device = tensorflow_device(device, card)
    with tf.device(tf_device):
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    names = [tensor.name for tensor in model.inputs]
    if names != ["z", "label"] or tuple(model.output.shape[1:]) != (*card.image_size, card.channels):
        raise PluginError(f"model {card.id!r}: {path.name} holds a model with inputs {names} and output "
                          f"{tuple(model.output.shape)}, not the generator its card describes; reinstall the plugin")
    return ConditionalGenerator(model, card, tf_device)
