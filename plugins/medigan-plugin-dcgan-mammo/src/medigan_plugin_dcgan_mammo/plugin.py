"""Registers medigan's DCGAN mammography generators. Imports nothing heavy: torch loads with a model.

The six models are the original medigan models 00001, 00002, 00005, 00006, 00008 and 00012 (same architecture,
latent size, training data and pixel mapping). Each card's weights entry names the original zip in its Zenodo record;
on first use the host downloads it and checks it against the record's md5 and size, and the plugin converts its
checkpoint once into a verified safetensors file in the medigan cache (see the README).
"""

from __future__ import annotations

from typing import Any

from medigan_host import hookimpl

from .specs import ConditionSpec, GeneratorSpec

LOADER = "medigan_plugin_dcgan_mammo.generator:load"
MEDIGAN_PAPER = ("Osuala R, Skorupko G, Lazrak N, et al. medigan: a Python library of pretrained generative models for "
                 "medical image synthesis. J Med Imaging 10(6):061403, 2023. doi:10.1117/1.JMI.10.6.061403")
SZAFRANOWSKA = ("Szafranowska Z, Osuala R, et al. Sharing generative models instead of private data: a simulation "
                "study on mammography patch classification. Proc SPIE 12286, 16th International Workshop on Breast "
                "Imaging (IWBI 2022)")
GAN_COMPARE_128 = GeneratorSpec(latent_dim=100, widths=(1024, 512, 256, 128, 64), activation="relu")
ALYAFI_128 = GeneratorSpec(latent_dim=200, widths=(450, 360, 180, 90, 45), activation="leaky_relu", negative_slope=0.2)
CONDITIONAL_128 = GeneratorSpec(latent_dim=100, widths=(1024, 512, 256, 128, 64), activation="relu",
                                condition=ConditionSpec(embedding="continuous", batch_norm=False, leakiness=0.1, classes=2))
#: The BCN-AIM packages' generate function: ``interval_mapping(x, -1.0, 0.0, 0, 255).astype("uint8")``.
BCN_AIM_PIXELS = {"method": "interval", "from": [-1.0, 0.0],
                  "source": "the package's __init__.py (RichardObi/medigan templates/examples/__init__.py)"}
#: The first medigan DCGAN package: ``interval_mapping(x, -1.0, 1.0, 0, 255).astype("uint8")``.
DCGAN_V1_PIXELS = {"method": "interval", "from": [-1.0, 1.0],
                   "source": "the package's __init__.py (medigan's first DCGAN package, DCGAN.pt)"}
#: Alyafi's run_generator: ``round(255 * (x / 2 + 0.5)).astype(uint8)``.
ALYAFI_PIXELS = {"method": "half_shift_round", "from": [-1.0, 1.0],
                 "source": "run_generator in run.py of the package (RichardObi/Projects master_thesis)"}
MALIGNANCY = {"malignancy": ["malignant", "benign"]}  # the original's class labels 0 and 1


def _architecture(spec: GeneratorSpec, kind: str = "DCGAN") -> str:
    act = "ReLU" if spec.activation == "relu" else f"LeakyReLU({spec.negative_slope})"
    condition = (" The class label is embedded (Linear(1, 100), LeakyReLU) and concatenated to the latent as 100 more "
                 "channels." if spec.condition else "")
    return (f"{kind} generator (PyTorch): latent {spec.latent_dim} -> {len(spec.widths)} transposed-convolution blocks "
            f"({'-'.join(map(str, spec.widths))} channels, kernel 4, BatchNorm, {act}) -> 1 channel, tanh; "
            f"{spec.image_size}x{spec.image_size}.{condition}")


def _metrics(performance: dict[str, Any], reference: str) -> dict[str, Any]:
    """The original config's published performance as card metrics (names lower-case, nesting kept)."""
    n = performance.pop("n")
    common = {"n": n, "reference": reference, "source": MEDIGAN_PAPER}
    out: dict[str, Any] = {
        "fid": {"value": performance.pop("fid"), "extractor": "inception-v3-imagenet", **common},
        "fid_ratio": performance.pop("fid_ratio"),
        "fid_radimagenet": {"value": performance.pop("fid_radimagenet"), "extractor": "radimagenet-resnet50", **common},
        "fid_radimagenet_ratio": performance.pop("fid_radimagenet_ratio"),
    }
    out.update(performance)
    return out


def _record(record: int, zip_name: str, member: str, layout: str) -> dict[str, Any]:
    return {"weights": {"doi": f"10.5281/zenodo.{record}", "filename": zip_name},
            "upstream_weights": {"member": member, "layout": layout}}


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
_GAN_COMPARE_LAYOUT = "checkpoint dict, generator state under 'generator', layers main.N"
_BCDR_CLF_REAL = {"f1": 0.891, "auc": 0.928, "auprc": 0.986}

CARDS: list[dict[str, Any]] = [
    {
        **_COMMON,
        "id": "dcgan-mammo-calc-inbreast",
        "upstream_id": "00001_DCGAN_MMG_CALC_ROI",
        "name": "DCGAN for mammography calcification ROIs (INbreast)",
        "description": (
            "Generates 128x128 regions of interest of full-field digital mammograms that contain benign and/or "
            "malignant calcifications. A deep convolutional GAN trained for 300 epochs on calcification ROIs from "
            "INbreast, with crop-and-resize and horizontal/vertical flip augmentation. One 8-bit grey channel."
        ),
        "architecture": _architecture(GAN_COMPARE_128),
        "dataset": "INbreast (Moreira IC et al., Acad Radiol 19(2):236-248, 2012): calcification ROIs",
        "citation": MEDIGAN_PAPER,
        "doi": "10.5281/zenodo.5187714",
        "metrics": _metrics({"fid": 67.60, "fid_ratio": 0.497, "fid_radimagenet": 1.27, "fid_radimagenet_ratio": 0.197,
                             "n": 1000}, "real INbreast calcification ROIs"),
        "tags": ["dcgan", "gan", "roi", "calcification", "inbreast", "ffdm", "data augmentation"],
        "generator": GAN_COMPARE_128.to_dict(),
        "pixel_mapping": DCGAN_V1_PIXELS,
        **_record(7031735, "00001_DCGAN_MMG_CALC_ROI.zip", "00001_DCGAN_MMG_CALC_ROI/DCGAN.pt", _GAN_COMPARE_LAYOUT),
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
            "of 0.48 and 0.61. One 8-bit grey channel."
        ),
        "architecture": _architecture(ALYAFI_128),
        "dataset": "OPTIMAM mammography image database, OMI-DB (Halling-Brown MD et al., 2014): malignant mass ROIs",
        "citation": ("Alyafi B, Diaz O, Marti R. DCGANs for realistic breast mass augmentation in X-ray mammography. "
                     "Proc SPIE 11314, Medical Imaging 2020: Computer-Aided Diagnosis, 1131420, 2020"),
        "doi": "10.1117/12.2543506",
        "metrics": _metrics({"fid": 80.51, "fid_ratio": 0.358, "fid_radimagenet": 6.19, "fid_radimagenet_ratio": 0.036,
                             "n": 1000, "clf_delta": 0.06,
                             "clf": {"trained_on_real_and_fake": {"f1": 0.96}, "trained_on_real": {"f1": 0.90}},
                             "turing_test": {"radiologist_1": {"accuracy": 0.48, "auc": 0.56, "years_experience": 7},
                                             "radiologist_2": {"accuracy": 0.61, "auc": 0.45, "years_experience": 25}}},
                            "real OPTIMAM mass ROIs"),
        "tags": ["dcgan", "gan", "roi", "mass", "malignant", "optimam", "hologic", "data augmentation"],
        "generator": ALYAFI_128.to_dict(),
        "pixel_mapping": ALYAFI_PIXELS,
        **_record(6647242, "MALIGN_DCGAN.zip", "MALIGN_DCGAN/malign_mass_gen", "generator state dict, layers model.N"),
    },
    {
        **_COMMON,
        "id": "dcgan-mammo-mass-bcdr",
        "upstream_id": "00005_DCGAN_MMG_MASS_ROI",
        "name": "DCGAN for mammography mass patches (BCDR)",
        "description": (
            "Generates 128x128 mammography patches that contain masses. A deep convolutional GAN trained for 500 "
            "epochs on mass patches from BCDR with horizontal/vertical flip augmentation, shared as a stand-in for the "
            "private training data in a patch-classification study. One 8-bit grey channel."
        ),
        "architecture": _architecture(GAN_COMPARE_128),
        "dataset": "BCDR, Breast Cancer Digital Repository (Lopez MG et al., 2012): mass patches",
        "citation": SZAFRANOWSKA,
        "doi": "10.48550/arXiv.2203.04961",
        "metrics": _metrics({"fid": 180.04, "fid_ratio": 0.379, "fid_radimagenet": 1.67, "fid_radimagenet_ratio": 0.593,
                             "n": 199, "clf_delta": 0.029,
                             "clf": {"trained_on_real_and_fake": {"f1": 0.920, "auc": 0.959, "auprc": 0.992},
                                     "trained_on_real": dict(_BCDR_CLF_REAL)}}, "real BCDR mass patches"),
        "tags": ["dcgan", "gan", "roi", "patch", "mass", "bcdr", "data augmentation"],
        "generator": GAN_COMPARE_128.to_dict(),
        "pixel_mapping": BCN_AIM_PIXELS,
        **_record(7031758, "00005_DCGAN_MMG_MASS_ROI.zip", "00005_DCGAN_MMG_MASS_ROI/500.pt", _GAN_COMPARE_LAYOUT),
    },
    {
        **_COMMON,
        "id": "wgangp-mammo-mass-bcdr",
        "upstream_id": "00006_WGANGP_MMG_MASS_ROI",
        "name": "WGAN-GP for mammography mass patches (BCDR)",
        "description": (
            "Generates 128x128 mammography patches that contain masses. A Wasserstein GAN with gradient penalty "
            "(DCGAN-style generator) trained for 10000 epochs on mass patches from BCDR with horizontal/vertical flip "
            "augmentation, shared as a stand-in for the private training data in a patch-classification study. "
            "One 8-bit grey channel."
        ),
        "architecture": _architecture(GAN_COMPARE_128, "WGAN-GP"),
        "dataset": "BCDR, Breast Cancer Digital Repository (Lopez MG et al., 2012): mass patches",
        "citation": SZAFRANOWSKA,
        "doi": "10.48550/arXiv.2203.04961",
        "metrics": _metrics({"fid": 221.30, "fid_ratio": 0.308, "fid_radimagenet": 1.80, "fid_radimagenet_ratio": 0.550,
                             "n": 199, "clf_delta": 0.078,
                             "clf": {"trained_on_real_and_fake": {"f1": 0.969, "auc": 0.978, "auprc": 0.996},
                                     "trained_on_real": dict(_BCDR_CLF_REAL)}}, "real BCDR mass patches"),
        "tags": ["wgan-gp", "wgan", "gan", "roi", "patch", "mass", "bcdr", "data augmentation"],
        "generator": GAN_COMPARE_128.to_dict(),
        "pixel_mapping": BCN_AIM_PIXELS,
        **_record(7031763, "00006_WGANGP_MMG_MASS_ROI.zip", "00006_WGANGP_MMG_MASS_ROI/10000.pt", _GAN_COMPARE_LAYOUT),
    },
    {
        **_COMMON,
        "id": "cdcgan-mammo-mass-cbisddsm",
        "upstream_id": "00008_C-DCGAN_MMG_MASSES",
        "name": "Conditional DCGAN for benign or malignant mammography mass patches (CBIS-DDSM)",
        "description": (
            "Generates 128x128 mammography patches of masses that are benign or malignant (biopsy-proven), as the "
            "condition asks: --condition malignancy=benign|malignant; without one, each seed draws its class. A "
            "class-conditional deep convolutional GAN trained on mass patches of CBIS-DDSM (its predefined training "
            "split, checkpoint of epoch 1400) with horizontal/vertical flip augmentation. One 8-bit grey channel."
        ),
        "architecture": _architecture(CONDITIONAL_128, "Conditional DCGAN"),
        "dataset": "CBIS-DDSM (Sawyer Lee R et al., 2016): mass patches, training split",
        "citation": MEDIGAN_PAPER,
        "conditions": MALIGNANCY,
        "metrics": _metrics({"fid": 137.75, "fid_ratio": 0.272, "fid_radimagenet": 3.05, "fid_radimagenet_ratio": 0.151,
                             "n": 379}, "real CBIS-DDSM mass patches"),
        "tags": ["cdcgan", "conditional", "dcgan", "gan", "roi", "patch", "mass", "benign", "malignant", "cbis-ddsm"],
        "generator": CONDITIONAL_128.to_dict(),
        "pixel_mapping": BCN_AIM_PIXELS,
        **_record(7382545, "00008_C-DCGAN_MMG_MASSES.zip", "00008_C-DCGAN_MMG_MASSES/1400_ckpt_train_cbis_ddsm.pt",
                  "checkpoint dict, generator state under 'generator', layers main.N and embed_nn.N"),
    },
    {
        **_COMMON,
        "id": "cdcgan-mammo-mass-bcdr",
        "upstream_id": "00012_C-DCGAN_MMG_MASSES",
        "name": "Conditional DCGAN for benign or malignant mammography mass patches (BCDR)",
        "description": (
            "Generates 128x128 mammography patches of masses that are benign or malignant (biopsy-proven), as the "
            "condition asks: --condition malignancy=benign|malignant; without one, each seed draws its class. A "
            "class-conditional deep convolutional GAN trained for 1250 epochs on mass patches from BCDR with "
            "horizontal/vertical flip augmentation. One 8-bit grey channel."
        ),
        "architecture": _architecture(CONDITIONAL_128, "Conditional DCGAN"),
        "dataset": "BCDR, Breast Cancer Digital Repository (Lopez MG et al., 2012): mass patches",
        "citation": MEDIGAN_PAPER,
        "conditions": MALIGNANCY,
        "metrics": _metrics({"fid": 205.29, "fid_ratio": 0.332, "fid_radimagenet": 5.69, "fid_radimagenet_ratio": 0.080,
                             "n": 199}, "real BCDR mass patches"),
        "tags": ["cdcgan", "conditional", "dcgan", "gan", "roi", "patch", "mass", "benign", "malignant", "bcdr"],
        "generator": CONDITIONAL_128.to_dict(),
        "pixel_mapping": BCN_AIM_PIXELS,
        **_record(7031755, "00012_C-DCGAN_MMG_MASSES.zip", "00012_C-DCGAN_MMG_MASSES/1250.pt",
                  "checkpoint dict, generator state under 'generator', layers main.N and embed_nn.N"),
    },
]


@hookimpl
def medigan_register_models(register) -> None:
    for card in CARDS:
        register(card, LOADER)
