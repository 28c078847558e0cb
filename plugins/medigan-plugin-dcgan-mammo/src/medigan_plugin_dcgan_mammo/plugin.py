"""Registers medigan's DCGAN mammography ROI generators. Imports nothing heavy: torch loads with a model.

The three models are the original medigan models 00001, 00002 and 00005 (same architecture, latent size and
training data). Their original weights were published as zip files without a sha256, so the cards declare no
downloadable weights: ``python -m medigan_plugin_dcgan_mammo.convert MODEL ORIGINAL.zip`` converts a downloaded
original into a verified safetensors file in the medigan cache (see the README).
"""

from __future__ import annotations

from typing import Any

from medigan_host import hookimpl

from .specs import GeneratorSpec

LOADER = "medigan_plugin_dcgan_mammo.generator:load"
MEDIGAN_PAPER = ("Osuala R, Skorupko G, Lazrak N, et al. medigan: a Python library of pretrained generative models for "
                 "medical image synthesis. J Med Imaging 10(6):061403, 2023. doi:10.1117/1.JMI.10.6.061403")
GAN_COMPARE_128 = GeneratorSpec(latent_dim=100, widths=(1024, 512, 256, 128, 64), activation="relu")
ALYAFI_128 = GeneratorSpec(latent_dim=200, widths=(450, 360, 180, 90, 45), activation="leaky_relu", negative_slope=0.2)


def _architecture(spec: GeneratorSpec) -> str:
    act = "ReLU" if spec.activation == "relu" else f"LeakyReLU({spec.negative_slope})"
    return (f"DCGAN generator (PyTorch): latent {spec.latent_dim} -> {len(spec.widths)} transposed-convolution blocks "
            f"({'-'.join(map(str, spec.widths))} channels, kernel 4, BatchNorm, {act}) -> 1 channel, tanh; "
            f"{spec.image_size}x{spec.image_size}")


def _fid(value: float, radimagenet: float, n: int, reference: str) -> dict[str, Any]:
    common = {"n": n, "reference": reference, "source": MEDIGAN_PAPER}
    return {"fid": {"value": value, "extractor": "inception-v3-imagenet", **common},
            "fid_radimagenet": {"value": radimagenet, "extractor": "radimagenet-resnet50", **common}}


def _howto(number: str, archive: str) -> str:
    return (f"No sha256 was published for the original weights, so this card declares no downloadable weights. Download "
            f"{archive} from upstream_weights.url, then run `python -m medigan_plugin_dcgan_mammo.convert {number} {archive}`: "
            "it reads the checkpoint without running code from it and stores a verified safetensors file in the medigan cache")


_COMMON: dict[str, Any] = {
    "version": "1.0.0",
    "framework": "pytorch",
    "modality": "mammography",
    "anatomy": "breast",
    "image_size": [128, 128],
    "channels": 1,
    "outputs": "image",
    "license": "MIT",
}

CARDS: list[dict[str, Any]] = [
    {
        **_COMMON,
        "id": "dcgan-mammo-calc-inbreast",
        "upstream_id": "00001_DCGAN_MMG_CALC_ROI",
        "name": "DCGAN for mammography calcification ROIs (INbreast)",
        "description": (
            "Generates 128x128 regions of interest of full-field digital mammograms that contain benign and/or "
            "malignant calcifications. A deep convolutional GAN trained for 300 epochs on calcification ROIs from "
            "INbreast, with crop-and-resize and horizontal/vertical flip augmentation. One grey channel in [0, 1]."
        ),
        "architecture": _architecture(GAN_COMPARE_128),
        "dataset": "INbreast (Moreira IC et al., Acad Radiol 19(2):236-248, 2012): calcification ROIs",
        "citation": MEDIGAN_PAPER,
        "doi": "10.5281/zenodo.5187714",
        "metrics": _fid(67.60, 1.27, 1000, "real INbreast calcification ROIs"),
        "tags": ["dcgan", "gan", "roi", "calcification", "inbreast", "ffdm", "data augmentation"],
        "generator": GAN_COMPARE_128.to_dict(),
        "upstream_weights": {"url": "https://zenodo.org/record/7031735/files/00001_DCGAN_MMG_CALC_ROI.zip?download=1",
                             "member": "dcgan.pt", "layout": "checkpoint dict, generator state under 'generator', layers main.N"},
        "weights_howto": _howto("00001", "00001_DCGAN_MMG_CALC_ROI.zip"),
    },
    {
        **_COMMON,
        "id": "dcgan-mammo-mass-optimam",
        "upstream_id": "00002_DCGAN_MMG_MASS_ROI",
        "name": "DCGAN for malignant mammography mass ROIs (OPTIMAM)",
        "description": (
            "Generates 128x128 regions of interest of mammograms that contain malignant masses. A deep convolutional "
            "GAN (latent size 200, LeakyReLU generator) trained on mass ROIs from the OPTIMAM mammography image database "
            "(Hologic images). In a visual Turing test, two radiologists told real from synthetic ROIs with accuracies "
            "of 0.48 and 0.61. One grey channel in [0, 1]."
        ),
        "architecture": _architecture(ALYAFI_128),
        "dataset": "OPTIMAM mammography image database, OMI-DB (Halling-Brown MD et al., 2014): malignant mass ROIs",
        "citation": ("Alyafi B, Diaz O, Marti R. DCGANs for realistic breast mass augmentation in X-ray mammography. "
                     "Proc SPIE 11314, Medical Imaging 2020: Computer-Aided Diagnosis, 1131420, 2020"),
        "doi": "10.1117/12.2543506",
        "metrics": _fid(80.51, 6.19, 1000, "real OPTIMAM mass ROIs"),
        "tags": ["dcgan", "gan", "roi", "mass", "malignant", "optimam", "hologic", "data augmentation"],
        "generator": ALYAFI_128.to_dict(),
        "upstream_weights": {"url": "https://zenodo.org/record/6647242/files/MALIGN_DCGAN.zip?download=1",
                             "member": "malign_mass_gen", "layout": "generator state dict, layers model.N"},
        "weights_howto": _howto("00002", "MALIGN_DCGAN.zip"),
    },
    {
        **_COMMON,
        "id": "dcgan-mammo-mass-bcdr",
        "upstream_id": "00005_DCGAN_MMG_MASS_ROI",
        "name": "DCGAN for mammography mass patches (BCDR)",
        "description": (
            "Generates 128x128 mammography patches that contain masses. A deep convolutional GAN trained for 500 "
            "epochs on mass patches from BCDR with horizontal/vertical flip augmentation, shared as a stand-in for the "
            "private training data in a patch-classification study. One grey channel in [0, 1]."
        ),
        "architecture": _architecture(GAN_COMPARE_128),
        "dataset": "BCDR, Breast Cancer Digital Repository (Lopez MG et al., 2012): mass patches",
        "citation": ("Szafranowska Z, Osuala R, et al. Sharing generative models instead of private data: a simulation "
                     "study on mammography patch classification. Proc SPIE 12286, 16th International Workshop on Breast "
                     "Imaging (IWBI 2022)"),
        "doi": "10.48550/arXiv.2203.04961",
        "metrics": _fid(180.04, 1.67, 199, "real BCDR mass patches"),
        "tags": ["dcgan", "gan", "roi", "patch", "mass", "bcdr", "data augmentation"],
        "generator": GAN_COMPARE_128.to_dict(),
        "upstream_weights": {"url": "https://zenodo.org/record/7031758/files/00005_DCGAN_MMG_MASS_ROI.zip?download=1",
                             "member": "500.pt", "layout": "checkpoint dict, generator state under 'generator', layers main.N"},
        "weights_howto": _howto("00005", "00005_DCGAN_MMG_MASS_ROI.zip"),
    },
]


@hookimpl
def medigan_register_models(register) -> None:
    for card in CARDS:
        register(card, LOADER)
