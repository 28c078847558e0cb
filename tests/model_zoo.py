"""A test plugin with cards modelled on the original medigan library's models (upstream ids, datasets, metrics).

Used by the search, ranking and compatibility tests: registered in-process with ``medigan_host.register_plugin``
or copied into a fake site for subprocesses. Its generators are small but real: PyTorch cards run a tiny
seeded torch network (so they need torch, like a real PyTorch plugin), NumPy cards a seeded NumPy pattern.
Nothing heavy is imported until a model is loaded. The metric values are fixture data.
"""

from __future__ import annotations

from medigan_host import hookimpl, latents

_OSUALA = ("Osuala R, Skorupko G, Lazrak N, et al. medigan: a Python library of pretrained generative models for "
           "medical image synthesis. J Med Imaging 10(6), 061403, 2023.")
_DOI = "10.1117/1.JMI.10.6.061403"

CARDS = [
    {
        "id": "dcgan-mmg-calc-roi", "upstream_id": "00001_DCGAN_MMG_CALC_ROI",
        "name": "DCGAN mammography calcification ROIs (INbreast)", "version": "1.0.0",
        "description": "Deep convolutional GAN that generates 128x128 regions of interest of full-field digital "
                       "mammograms containing microcalcifications.",
        "framework": "pytorch", "modality": "mammography", "anatomy": "breast", "architecture": "DCGAN",
        "dataset": "INbreast", "image_size": [128, 128], "channels": 1, "license": "MIT",
        "tags": ["calcification", "roi", "patch"], "citation": _OSUALA, "doi": _DOI,
        "metrics": {
            "fid": {"value": 67.6, "reference": "INbreast calcification ROIs", "extractor": "inception-v3-imagenet", "n": 1000},
            "fid_radimagenet": {"value": 1.27, "reference": "INbreast calcification ROIs",
                                "extractor": "radimagenet-resnet50", "n": 1000},
        },
    },
    {
        "id": "dcgan-mmg-mass-roi", "upstream_id": "00002_DCGAN_MMG_MASS_ROI",
        "name": "DCGAN mammography mass ROIs (OPTIMAM)", "version": "1.0.0",
        "description": "DCGAN trained on 128x128 mass regions of interest cropped from OPTIMAM screening mammograms.",
        "framework": "pytorch", "modality": "mammography", "anatomy": "breast", "architecture": "DCGAN",
        "dataset": "OPTIMAM", "image_size": [128, 128], "channels": 1, "license": "MIT", "tags": ["mass", "roi"],
        "citation": _OSUALA, "doi": _DOI,
        "metrics": {
            "fid": {"value": 80.51, "reference": "OPTIMAM mass ROIs", "extractor": "inception-v3-imagenet", "n": 1000},
            "fid_radimagenet": {"value": 6.19, "reference": "OPTIMAM mass ROIs", "extractor": "radimagenet-resnet50", "n": 1000},
            "ssim": 0.21,
        },
    },
    {
        "id": "cdcgan-mmg-masses", "upstream_id": "00012_C-DCGAN_MMG_MASSES",
        "name": "Conditional DCGAN mammography masses (CBIS-DDSM)", "version": "1.0.0",
        "description": "Class-conditional DCGAN: generates mass patches that are benign or malignant as asked.",
        "framework": "tensorflow", "modality": "mammography", "anatomy": "breast", "architecture": "cDCGAN",
        "dataset": "CBIS-DDSM", "image_size": [128, 128], "channels": 1, "license": "MIT",
        "conditions": {"lesion": ["benign", "malignant"]}, "tags": ["mass", "conditional"],
        "metrics": {"fid": 137.75, "downstream_task": {"CLF": {"accuracy": 0.76}}},
    },
    {
        "id": "cyclegan-mmg-density-optimam-mlo", "upstream_id": "00013_CYCLEGAN_MMG_DENSITY_OPTIMAM_MLO",
        "name": "CycleGAN breast density translation, MLO views (OPTIMAM)", "version": "1.0.0",
        "description": "Translates mediolateral oblique mammograms from low to high breast density and back.",
        "framework": "pytorch", "modality": "mammography", "anatomy": "breast", "architecture": "CycleGAN",
        "dataset": "OPTIMAM", "image_size": [1332, 800], "channels": 1, "license": "MIT", "input": "image",
        "tags": ["density", "image-to-image"],
    },
    {
        "id": "pggan-polyp-masks", "upstream_id": "00009_PGGAN_POLYP_PATCHES_W_MASKS",
        "name": "PGGAN colon polyps with segmentation masks (HyperKvasir)", "version": "1.0.0",
        "description": "Progressively growing GAN that generates 256x256 colonoscopy polyp images together with "
                       "their polyp segmentation masks.",
        "framework": "numpy", "modality": "endoscopy", "anatomy": "colon", "architecture": "PGGAN",
        "dataset": "HyperKvasir", "image_size": [256, 256], "channels": 3, "outputs": "image+mask", "license": "MIT",
        "tags": ["polyp", "segmentation"],
        "metrics": {"fid": {"value": 225.85, "reference": "HyperKvasir polyps", "extractor": "inception-v3-imagenet",
                            "n": 1000},
                    "downstream_task": {"seg": {"dice": 0.72}}},
    },
    {
        "id": "cyclegan-brain-mri-t1-t2", "upstream_id": "00021_CYCLEGAN_BRAIN_MRI_T1_T2",
        "name": "CycleGAN brain MRI T1 to T2 translation (crossMoDA)", "version": "1.0.0",
        "description": "Translates contrast-enhanced T1-weighted brain MRI slices into high-resolution T2-weighted "
                       "slices, for domain adaptation in vestibular schwannoma segmentation.",
        "framework": "numpy", "modality": "mri", "anatomy": "brain", "architecture": "CycleGAN",
        "dataset": "crossMoDA 2021", "image_size": [224, 192], "channels": 1, "input": "image", "license": "MIT",
        "tags": ["t1", "t2", "image-to-image"],
        "metrics": {"fid": {"value": 30.7, "reference": "crossMoDA T2 slices", "extractor": "inception-v3-imagenet"},
                    "ssim": {"value": 0.64, "reference": "crossMoDA T2 slices"}},
    },
    {
        "id": "pggan-chest-xray", "upstream_id": "00019_PGGAN_CHEST_XRAY",
        "name": "PGGAN chest X-ray (ChestX-ray14)", "version": "1.0.0",
        "description": "Frontal chest radiographs with lungs, heart, ribs and, in female patients, breast shadows.",
        "framework": "pytorch", "modality": "xray", "anatomy": "chest", "architecture": "PGGAN",
        "dataset": "ChestX-ray14", "image_size": [1024, 1024], "channels": 1, "license": "MIT", "tags": ["thorax"],
    },
    {
        "id": "dcgan-xray-lung-nodules", "upstream_id": "00017_DCGAN_XRAY_LUNG_NODULES",
        "name": "DCGAN lung nodules on chest X-ray (NODE21)", "version": "1.0.0",
        "description": "Generates 128x128 chest radiograph patches containing a lung nodule.",
        "framework": "numpy", "modality": "xray", "anatomy": "lung", "architecture": "DCGAN", "dataset": "NODE21",
        "image_size": [128, 128], "channels": 1, "license": "MIT", "tags": ["nodule", "patch"],
        "metrics": {"fid": 73.05, "kid": {"value": 0.08, "extractor": "inception-v3-imagenet"}},
    },
]
IDS = [c["id"] for c in CARDS]
MAMMOGRAPHY = {c["id"] for c in CARDS if c["modality"] == "mammography"}


class NumpyGenerator:
    """A seeded pattern per sample: latents squashed to [0, 1], masks from a threshold; conditions shift it."""

    def __init__(self, card) -> None:
        self.card = card

    def generate(self, seeds, *, condition=None, inputs=None):
        import numpy as np

        shape = (*self.card.image_size, self.card.channels)
        if inputs is not None:  # image-to-image: an inverted copy of each input
            images = np.stack([1.0 - np.asarray(x, dtype=np.float32) / max(float(np.max(x)), 1.0) for x in inputs])
            return {"images": images.reshape(len(seeds), *shape).astype(np.float32)}
        z = latents(seeds, int(np.prod(shape))).reshape(len(seeds), *shape)
        if condition:
            z = z + (1.0 if next(iter(condition.values())) in ("malignant", "present") else -1.0)
        images = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        out = {"images": images}
        if self.card.has_masks:
            out["masks"] = (z[..., :1] > 1.0).astype(np.uint8)
        return out


class TorchGenerator:
    """A tiny seeded torch network: latent -> linear -> sigmoid, one sample per seed."""

    def __init__(self, card, device) -> None:
        import torch

        self.torch = torch
        self.card = card
        self.size = int(torch.tensor(card.image_size).prod()) * card.channels
        generator = torch.Generator().manual_seed(1234)
        self.weight = torch.randn(16, self.size, generator=generator).to(device) / 4.0
        self.device = device

    def generate(self, seeds, *, condition=None, inputs=None):
        if inputs is not None:
            return NumpyGenerator(self.card).generate(seeds, inputs=inputs)
        with self.torch.inference_mode():
            z = self.torch.from_numpy(latents(seeds, 16)).to(self.device)
            x = self.torch.sigmoid(z @ self.weight).reshape(len(seeds), *self.card.image_size, self.card.channels)
            return {"images": x.float().cpu().numpy()}


def load(card, device):
    if card.framework == "pytorch":
        return TorchGenerator(card, device)
    return NumpyGenerator(card)


@hookimpl
def medigan_register_models(register):
    for card in CARDS:
        register(card, load)
