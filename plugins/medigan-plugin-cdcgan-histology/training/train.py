"""Train the class-conditional DCGAN of ``cdcgan-histology-ihc`` on CPU, reproducibly by seed.

Data: scikit-image's ``ihc.png`` (colonic glands, FHL2 immunohistochemistry revealed with DAB, haematoxylin
counterstain; 512x512 RGB; "no known copyright restrictions"), read from the installed scikit-image package.
64x64 patches are labelled by colour deconvolution: DAB-positive when at least half of their pixels exceed the
Otsu threshold of DAB density over the training region, DAB-negative when at most a tenth do; patches in between
are not used. A 224x192 region (rows 288-511, columns 224-415: the small gland at the bottom and its stroma) is
held out for evaluation and never trained on. Each batch holds as many positive as negative patches, each
flipped/rotated at random.

    pip install "./plugins/medigan-plugin-cdcgan-histology[training]" tensorflow-cpu
    python plugins/medigan-plugin-cdcgan-histology/training/train.py --out cdcgan-histology-ihc.keras

The defaults are the shipped model's recipe (seed 0, 4000 steps of 16 patches, 2 threads: about 23 minutes on a
shared 2-core CPU); ``--preview PNG`` refreshes a grid of generated patches at every log line.

The same seed, step count, thread count and library versions give the same weights, byte for byte: the printed
``weights_h5_sha256`` is that of ``model.weights.h5`` inside the ``.keras`` archive (the archive's own sha256 also
covers the save time that Keras writes into its ``metadata.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
from medigan_plugin_cdcgan_histology.stain import dab_density

PATCH = 64
LATENT = 64
CLASSES = ("negative", "positive")  # label index -> value of the condition ``dab``
POSITIVE_MIN = 0.5
NEGATIVE_MAX = 0.1
#: rows, columns of the region held out for evaluation: the small gland at the bottom and the stroma around it.
HOLD_OUT = (slice(288, 512), slice(224, 416))
#: sha256 of skimage/data/ihc.png, as recorded in scikit-image's own data registry.
IHC_SHA256 = "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"


def load_ihc() -> np.ndarray:
    """The 512x512 RGB IHC image as shipped inside scikit-image, checked against its known sha256."""
    from importlib.resources import files

    from PIL import Image

    resource = files("skimage.data") / "ihc.png"
    data = resource.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != IHC_SHA256:
        raise SystemExit(f"{resource} has sha256 {digest}, not the {IHC_SHA256} this model was trained on: "
                         "install a scikit-image that ships the same data/ihc.png (0.26 does)")
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def dab_threshold(image: np.ndarray) -> float:
    """Otsu's threshold of DAB density over the training region (the hold-out region masked out)."""
    from skimage.filters import threshold_otsu

    density = dab_density(image)
    keep = np.ones(density.shape, bool)
    keep[HOLD_OUT] = False
    return float(threshold_otsu(density[keep]))


def patch_positions(image: np.ndarray, threshold: float, *, held_out: bool) -> dict[str, np.ndarray]:
    """Top-left corners (row, col) of every labelled patch inside (held_out) or wholly outside the hold-out region."""
    positive = (dab_density(image) > threshold).astype(np.float64)
    integral = np.pad(positive.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    limit = image.shape[0] - PATCH + 1
    rows, cols = np.mgrid[0:limit, 0:limit]
    fraction = (integral[rows + PATCH, cols + PATCH] - integral[rows, cols + PATCH]
                - integral[rows + PATCH, cols] + integral[rows, cols]) / PATCH**2
    (r0, r1), (c0, c1) = (HOLD_OUT[0].start, HOLD_OUT[0].stop), (HOLD_OUT[1].start, HOLD_OUT[1].stop)
    inside = (rows >= r0) & (rows + PATCH <= r1) & (cols >= c0) & (cols + PATCH <= c1)
    overlaps = (rows < r1) & (rows + PATCH > r0) & (cols < c1) & (cols + PATCH > c0)
    region = inside if held_out else ~overlaps
    return {"negative": np.argwhere(region & (fraction <= NEGATIVE_MAX)),
            "positive": np.argwhere(region & (fraction >= POSITIVE_MIN))}


def crop(image: np.ndarray, corners: np.ndarray, turns: np.ndarray | None = None, flips: np.ndarray | None = None) -> np.ndarray:
    """Patches at ``corners``, each rotated by ``turns`` quarter turns and mirrored where ``flips``."""
    out = np.stack([image[r:r + PATCH, c:c + PATCH] for r, c in corners])
    if turns is not None:
        for i in range(len(out)):
            patch = np.rot90(out[i], int(turns[i]))
            out[i] = patch[:, ::-1] if flips[i] else patch
    return out


def build_generator():
    """z (LATENT) + class label -> 64x64x3 in [-1, 1]. Standard Keras layers only, so it loads with safe_mode.

    The DCGAN generator (Radford et al. 2016) with 32 base filters; group normalisation instead of batch
    normalisation, so that a sample never depends on the others in its batch.
    """
    import keras
    from keras import layers

    z = keras.Input((LATENT,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    x = layers.Concatenate()([z, layers.Embedding(len(CLASSES), 16, name="label_embedding")(label)])
    x = layers.Dense(4 * 4 * 256, use_bias=False)(x)
    x = layers.Reshape((4, 4, 256))(x)
    x = layers.ReLU()(layers.GroupNormalization(16)(x))
    for filters in (128, 64, 32):  # 8, 16, 32
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.GroupNormalization(16)(x))
    image = layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh", name="image")(x)  # 64
    return keras.Model([z, label], image, name="cdcgan_histology_generator")


def build_discriminator():
    """The DCGAN discriminator, its class applied by projection (Miyato & Koyama 2018)."""
    import keras
    from keras import layers, ops

    image = keras.Input((PATCH, PATCH, 3))
    label = keras.Input((), dtype="int32")
    x = layers.LeakyReLU(0.2)(layers.Conv2D(32, 4, strides=2, padding="same")(image))  # 32
    for filters in (64, 128, 256):  # 16, 8, 4
        x = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    features = layers.Flatten()(x)
    unconditional = layers.Dense(1)(features)
    projection = ops.sum(layers.Embedding(len(CLASSES), 4 * 4 * 256)(label) * features, axis=-1, keepdims=True)
    return keras.Model([image, label], unconditional + projection, name="cdcgan_histology_discriminator")


def save_preview(generator, path: str, per_class: int = 8) -> None:
    """A PNG grid from fixed latents: one row of negative, one row of positive patches."""
    from PIL import Image

    z = np.random.default_rng(1234).standard_normal((per_class, LATENT)).astype(np.float32)
    rows = []
    for label in range(len(CLASSES)):
        images = generator.predict_on_batch([z, np.full(per_class, label, np.int32)])
        rows.append(np.concatenate(list(images), axis=1))
    grid = np.clip(np.round((np.concatenate(rows, axis=0) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    Image.fromarray(grid).save(path)


def train(args: argparse.Namespace) -> dict:
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()

    image = load_ihc()
    threshold = dab_threshold(image)
    positions = patch_positions(image, threshold, held_out=False)
    scaled = image.astype(np.float32) / 127.5 - 1.0
    rng = np.random.default_rng(args.seed)

    generator, discriminator = build_generator(), build_discriminator()
    average = keras.models.clone_model(generator)
    average.set_weights(generator.get_weights())
    g_opt = keras.optimizers.Adam(args.lr, beta_1=0.5, beta_2=0.999)
    d_opt = keras.optimizers.Adam(args.lr, beta_1=0.5, beta_2=0.999)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(real, labels, z, decay):
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator([z, labels], training=True)
            real_logits = discriminator([real, labels], training=True)
            fake_logits = discriminator([fake, labels], training=True)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        d_vars, g_vars = discriminator.trainable_variables, generator.trainable_variables
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=True))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=True))
        for kept, live in zip(average.weights, generator.weights, strict=True):
            kept.assign(decay * kept + (1.0 - decay) * live)
        return d_loss, g_loss

    half = args.batch // 2
    labels = np.repeat(np.arange(len(CLASSES), dtype=np.int32), half)
    started = time.perf_counter()
    for i in range(args.steps):
        corners = np.concatenate([positions[c][rng.integers(len(positions[c]), size=half)] for c in CLASSES])
        real = crop(scaled, corners, rng.integers(4, size=len(corners)), rng.integers(2, size=len(corners)))
        z = rng.standard_normal((len(corners), LATENT)).astype(np.float32)
        decay = np.float32(min(args.ema, (1 + i) / (10 + i)))
        d_loss, g_loss = step(tf.constant(real), tf.constant(labels), tf.constant(z), tf.constant(decay))
        if (i + 1) % args.log_every == 0 or i + 1 == args.steps:
            print(f"step {i + 1}/{args.steps}  d_loss {float(d_loss):.3f}  g_loss {float(g_loss):.3f}  "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            if args.preview:
                save_preview(average, args.preview)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    average.save(out)
    data = out.read_bytes()
    with zipfile.ZipFile(out) as archive:  # metadata.json holds the save time; the weights themselves reproduce
        weights_sha256 = hashlib.sha256(archive.read("model.weights.h5")).hexdigest()
    return {"file": str(out), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "weights_h5_sha256": weights_sha256, "seed": args.seed,
            "steps": args.steps, "batch": args.batch, "lr": args.lr, "ema": args.ema, "threads": args.threads,
            "seconds": round(time.perf_counter() - started, 1), "dab_threshold": round(threshold, 6),
            "training_patches": {c: int(len(positions[c])) for c in CLASSES},
            "tensorflow": tf.__version__, "keras": keras.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to write the generator (.keras)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=16, help="even: half positive, half negative patches")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--ema", type=float, default=0.999, help="decay of the weight average that is saved")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads (part of the recipe)")
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--preview", help="a PNG to refresh with generated patches at every log line")
    args = parser.parse_args()
    if args.batch < 2 or args.batch % 2:
        parser.error("--batch must be an even number of at least 2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    print(json.dumps(train(args), indent=2))


if __name__ == "__main__":
    main()
