"""Registers the phantom models with medigan. Imports nothing heavy: generators load on first use."""

from __future__ import annotations

from medigan_host import hookimpl

_COMMON = {
    "version": "0.1.0",
    "framework": "numpy",
    "architecture": "procedural phantom",
    "license": "MIT",
    "dataset": "none (procedural, no training data)",
    "tags": ["phantom", "procedural", "no-weights", "test-fixture"],
}

CARDS = [
    {
        **_COMMON,
        "id": "ct-head-phantom",
        "name": "Head CT phantom (randomised Shepp-Logan style)",
        "description": (
            "Axial head CT slice in the style of the Shepp-Logan phantom with randomised anatomy per seed: skull, "
            "brain parenchyma, lateral ventricles, grey-matter variation, optional acute haemorrhage, CT noise. "
            "Pixel values are Hounsfield units + 1024 (12-bit range in uint16). Not a trained model: a procedural "
            "phantom for pipelines, tests and teaching. Mask labels: 0 air, 1 bone, 2 brain, 3 CSF, 4 haemorrhage."
        ),
        "modality": "ct",
        "anatomy": "head",
        "image_size": [256, 256],
        "channels": 1,
        "outputs": "image+mask",
        "conditions": {"lesion": ["absent", "present"]},
        "citation": "Shepp LA, Logan BF. The Fourier reconstruction of a head section. IEEE Trans Nucl Sci 21(3), 1974.",
        "doi": "10.1109/TNS.1974.6499235",
        "tags": [*_COMMON["tags"], "brain", "haemorrhage", "segmentation"],
        "mask_labels": {"0": "air", "1": "bone", "2": "brain", "3": "csf", "4": "haemorrhage"},
        "value_encoding": "HU + 1024, uint16",
        "display_range": [1004, 1124],  # a brain window, HU -20 to 100, for `medigan show`
    },
    {
        **_COMMON,
        "id": "mammo-breast-phantom",
        "name": "2-D breast phantom with masses",
        "description": (
            "Mammogram-like 2-D breast phantom: breast outline against the chest wall, skin line, fibroglandular "
            "tissue as power-law (1/f^3) filtered noise whose amount follows the BI-RADS density class, and 0-3 "
            "round, oval or spiculated masses returned as a lesion mask. Not a trained model. "
            "Mask labels: 0 background, 1 breast tissue, 2 mass."
        ),
        "modality": "mammography",
        "anatomy": "breast",
        "image_size": [256, 256],
        "channels": 1,
        "outputs": "image+mask",
        "conditions": {"density": ["a", "b", "c", "d"], "lesion": ["absent", "present"]},
        "citation": "Burgess AE, Jacobson FL, Judy PF. Human observer detection experiments with mammograms and "
                    "power-law noise. Med Phys 28(4), 2001.",
        "doi": "10.1118/1.1355308",
        "tags": [*_COMMON["tags"], "mass", "bi-rads density", "segmentation"],
        "mask_labels": {"0": "background", "1": "breast", "2": "mass"},
    },
    {
        **_COMMON,
        "id": "mri-brain-phantom-3d",
        "name": "3-D brain MRI phantom (Shepp-Logan ellipsoids, T1-like)",
        "description": (
            "64x64x64 head volume from the 3-D Shepp-Logan ellipsoid table with T1-like contrast, per-seed jitter "
            "of ellipsoid centres, axes and intensities, and Rician-like noise. Not a trained model."
        ),
        "modality": "mri",
        "anatomy": "brain",
        "image_size": [64, 64, 64],
        "channels": 1,
        "outputs": "image",
        "citation": "Kak AC, Slaney M. Principles of Computerized Tomographic Imaging. IEEE Press, 1988.",
        "tags": [*_COMMON["tags"], "3d", "volume", "t1"],
    },
    {
        **_COMMON,
        "id": "ct-lowdose-sim",
        "name": "Low-dose CT simulation (image domain)",
        "description": (
            "Image-to-image model: takes a head or body CT slice (HU + 1024, uint16, 256x256) and returns it as if "
            "scanned at a fraction of the dose, by adding correlated noise with a CT-like (band-pass) noise power "
            "spectrum whose standard deviation grows as sqrt(1/dose - 1) over a 10 HU full-dose reference. "
            "An approximation in the image domain, not a projection-domain simulation."
        ),
        "modality": "ct",
        "anatomy": "any",
        "architecture": "procedural noise model",
        "image_size": [256, 256],
        "channels": 1,
        "input": "image",
        "outputs": "image",
        "conditions": {"dose": ["half", "quarter", "tenth"]},
        "tags": [*_COMMON["tags"], "low-dose", "denoising", "image-to-image"],
        "value_encoding": "HU + 1024, uint16",
    },
]

LOADERS = {
    "ct-head-phantom": "medigan_plugin_phantoms.head_ct:load",
    "mammo-breast-phantom": "medigan_plugin_phantoms.breast:load",
    "mri-brain-phantom-3d": "medigan_plugin_phantoms.brain_mri_3d:load",
    "ct-lowdose-sim": "medigan_plugin_phantoms.lowdose_ct:load",
}


@hookimpl
def medigan_register_models(register):
    for card in CARDS:
        register(card, LOADERS[card["id"]])
