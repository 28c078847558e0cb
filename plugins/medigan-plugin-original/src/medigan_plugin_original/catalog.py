"""The original medigan library's 23 models as data: where each package is, how its code is called, what it publishes.

Everything here is plain data taken from the original library's ``config/global.json`` (execution, selection and
description of each model) and from the model records on Zenodo; :mod:`.plugin` turns it into model cards. Nothing
is imported or downloaded while the catalogue is read.
"""

from __future__ import annotations

from typing import Any

#: Every original model's code ran on PyTorch; its environment gets this release (the package sources decide CPU or
#: CUDA: UV_FIND_LINKS / UV_INDEX_URL, or pip's PIP_FIND_LINKS / PIP_INDEX_URL).
TORCH = "torch==2.13.0"
#: torchvision is resolved through :data:`TORCHVISION_OVERRIDES` (see :data:`TORCHVISION_NOTE`).
TORCHVISION = "torchvision"
#: torchvision 0.17 to 0.28 register "fake" kernels for their compiled operators (torchvision::nms) at import without
#: checking that the operators loaded; a torchvision wheel built for another torch build (PyPI's CUDA torchvision
#: next to a CPU-only torch) therefore fails at ``import torchvision``. 0.16.2 is the last release that checks first:
#: it imports, with its transforms, models and utils (pure Python), on any torch 2.x build; only torchvision.ops'
#: compiled operators (nms, roi_align), which no original model calls, are unavailable when the builds differ. Its
#: wheel pins torch 2.1.2, so the override also keeps torch at the card's release.
TORCHVISION_OVERRIDES = ["torchvision==0.16.2", "torch==2.13.0"]
TORCHVISION_NOTE = ("torchvision is installed as 0.16.2 with torch kept at 2.13.0 (an override: its wheel pins torch "
                    "2.1.2): torchvision 0.17-0.28 fail at import when their compiled operators were built for another "
                    "torch build than the one installed (e.g. PyPI's CUDA torchvision next to a CPU-only torch, "
                    "'operator torchvision::nms does not exist'); 0.16.2 imports with its transforms, models and "
                    "utils, which is what the original code uses.")
#: The module each requirement is imported as: what `medigan env create` imports to prove the environment works.
IMPORT_NAMES = {"numpy": "numpy", "torch": "torch", "torchvision": "torchvision", "opencv-contrib-python-headless": "cv2",
                "pyyaml": "yaml", "dominate": "dominate", "visdom": "visdom", "pillow": "PIL", "imageio": "imageio",
                "scikit-image": "skimage", "matplotlib": "matplotlib", "albumentations": "albumentations",
                "glob2": "glob2", "natsort": "natsort", "scipy": "scipy", "pandas": "pandas",
                "easing-functions": "easing_functions", "ipdb": "ipdb", "lmdb": "lmdb", "tqdm": "tqdm",
                "scikit-learn": "sklearn", "requests": "requests", "pytorch-lightning": "pytorch_lightning",
                "nibabel": "nibabel", "comet-ml": "comet_ml", "monai": "monai", "grad-cam": "pytorch_grad_cam",
                "munch": "munch", "ffmpeg-python": "ffmpeg", "torchmetrics": "torchmetrics", "setuptools": "pkg_resources"}
#: The Python versions every card's pins install on (torch 2.13 wheels start at 3.10); cards with older pins narrow it.
PYTHON = ">=3.10"
NUMPY = "numpy>=1.24,<3"
OPENCV = "opencv-contrib-python-headless>=4.8"
PILLOW = "pillow>=10"

_MMG_MODALITY = ["MMG", "Mammography", "Mammogram", "full-field digital", "full-field digital MMG", "full-field MMG",
                 "full-field Mammography", "digital Mammography", "digital MMG", "x-ray mammography"]
_BREAST = ["breast", "breasts", "chest"]
_MMG_TAGS = ["Mammogram", "Mammography", "Digital Mammography", "Full field Mammography", "Full-field Mammography"]
_NOISE_FUNCTION = ["noise to image", "image generation", "unconditional generation", "data augmentation"]
_I2I_FUNCTION = ["image to image", "image generation", "data augmentation"]
_FLIPS = ["horizontal flip", "vertical flip"]
_MASS = ["mass", "masses", "mass roi", "mass ROI", "mass images", "mass region of interest",
         "nodule", "nodule", "nodule roi", "nodule ROI", "nodule images", "nodule region of interest"]
_MASS_TAGS = ["Breast", *_MMG_TAGS, "128x128", "128 x 128", "MammoGANs", "Masses", "Nodules"]
_CYCLE_TAGS = [*_MMG_TAGS, "CycleGANs", "CycleGAN", "Density", "Breast Density", "High Density", "Low Density", "ACR"]
_FULL_MMG = ["full images", "mammograms", "full-field digital mammograms"]
_POLYP_ORGAN = ["polyps", "colon"]
_ENDOSCOPY = ["endoscopy", "gastrointestinal endoscopy"]
_POLYP_FUNCTION = ["noise to image and mask", "noise to image", "noise to mask", "image generation",
                   "unconditional generation", "data augmentation"]
_POLYP_AUG = ["resize", "Albumentations library augmentations"]
_POLYP_GENERATES = ["masks", "segmentation masks", "polyp masks", "endoscopy masks", "endoscopy roi", "endoscopy ROI",
                    "endoscopy images", "endoscopy region of interest", "polyp", "polyps", "polyp roi", "polyp ROI",
                    "polyp images", "polyp region of interest"]
_POLYP_TAGS = ["Endoscopy", "Colonoscopy", "Polyps", "Polyp", "Polyp Segmentation", "Segmentation"]
_LUNG = ["lung", "chest", "thorax"]
_XRAY = ["x-ray", "xray", "CXR"]
_XRAY_FUNCTION = ["noise to image", "unconditional generation", "data augmentation"]
_NODULES = ["lung nodules", "nodules", "lung roi", "lung region of interest", "patches"]
_CXR = ["chest xray", "CXR", "thoracic xray", "lung xray", "lung xray"]
_XRAY_TAGS = ["Thoracic xray", "xray", "x-ray", "Thorax", "Lung", "Nodules", "Lung Cancer", "Lung Tumor"]
_EMPTY_TASK = {"trained_on_fake": {}, "trained_on_real_and_fake": {}, "trained_on_real": {}}


def _task(fake: dict | None = None, both: dict | None = None, real: dict | None = None) -> dict[str, Any]:
    return {"trained_on_fake": fake or {}, "trained_on_real_and_fake": both or {}, "trained_on_real": real or {}}


def _performance(n: int, fid: float, fid_ratio: float, rad: float | None, rad_ratio: float | None, *,
                 clf_delta: float | None = None, seg_delta: float | None = None, det_delta: Any = "absent",
                 turing: Any = None, clf: dict | None = None, seg: dict | None = None, det: dict | None = None) -> dict:
    """A ``selection.performance`` block in the original's layout (nulls kept: the original's search saw them)."""
    out: dict[str, Any] = {"SSIM": None, "MSE": None, "NSME": None, "PSNR": None, "IS": None, "turing_test": turing,
                           "FID_no_images": n, "FID": fid, "FID_ratio": fid_ratio, "FID_RADIMAGENET": rad,
                           "FID_RADIMAGENET_ratio": rad_ratio, "CLF_delta": clf_delta, "SEG_delta": seg_delta}
    if det_delta != "absent":
        out["DET_delta"] = det_delta
    out.update({"CLF": clf or dict(_EMPTY_TASK), "SEG": seg or dict(_EMPTY_TASK), "DET": det or dict(_EMPTY_TASK)})
    return out


def _selection(performance: dict, use_cases: list, organ: list, modality: list, function: list, dataset: list,
               augmentations: list, generates: list, height: Any, width: Any, depth: Any, type_: str, license_: Any,
               tags: list, year: Any, *, vendors: list | None = None, centres: list | None = None,
               condition: list | None = None, dataset_type: str = "public", privacy: Any = None) -> dict[str, Any]:
    """A model's ``selection`` block in the original's layout: the values its search matched."""
    return {"performance": performance, "use_cases": use_cases, "organ": organ, "modality": modality,
            "vendors": vendors or [], "centres": centres or [], "function": function, "condition": condition or [],
            "dataset": dataset, "augmentations": augmentations, "generates": generates, "height": height,
            "width": width, "depth": depth, "type": type_, "license": license_, "dataset_type": dataset_type,
            "privacy_preservation": privacy, "tags": tags, "year": year}


def _mmg_noise(performance: dict, dataset: str, generates: list, tags: list, year: str, type_: str = "DCGAN", *,
               augmentations: list | None = None, vendors: list | None = None, use_cases: list | None = None) -> dict:
    return _selection(performance, use_cases or ["classification"], _BREAST, _MMG_MODALITY, _NOISE_FUNCTION, [dataset],
                      _FLIPS if augmentations is None else augmentations, generates, 128, 128, None, type_, "MIT", tags,
                      year, vendors=vendors)


def _cyclegan_mmg(performance: dict, dataset: str) -> dict:
    return _selection(performance, ["classification", "detection", "domain-translation"], _BREAST, _MMG_MODALITY,
                      _I2I_FUNCTION, [dataset], ["resize"], _FULL_MMG, 1332, 800, None, "CycleGAN", "BSD", _CYCLE_TAGS, "2021")


def _polyp(performance: dict, height: int, width: int, depth: int, type_: str, license_: str, tags: list) -> dict:
    return _selection(performance, ["classification", "segmentation"], _POLYP_ORGAN, _ENDOSCOPY, _POLYP_FUNCTION,
                      ["HyperKvasir"], _POLYP_AUG, _POLYP_GENERATES, height, width, depth, type_, license_, tags, "2022")


def _xray(performance: dict, use_cases: list, dataset: str, generates: list, size: int, depth: int, type_: str,
          augmentations: list | None = None) -> dict:
    return _selection(performance, use_cases, _LUNG, _XRAY, _XRAY_FUNCTION, [dataset],
                      _FLIPS if augmentations is None else augmentations, generates, size, size, depth, type_, "MIT",
                      _XRAY_TAGS, "2022")


_BASE_NOISE = ["model_file", "num_samples", "output_path", "save_images"]
_BASE_I2I = ["model_file", "output_path", "save_images", "num_samples"]
_MMG_PINS = [NUMPY, TORCH, OPENCV]
_CYCLEGAN_PINS = [NUMPY, "pyyaml>=6", OPENCV, TORCH, TORCHVISION, "dominate>=2.8", "visdom>=0.2.4", PILLOW]
_CYCLEGAN_DEPS = ["numpy", "Path", "pyyaml", "opencv-contrib-python-headless", "torch", "torchvision", "dominate",
                  "visdom", "Pillow"]
_NODE21_PINS = [NUMPY, "tqdm>=4.60", TORCH]
#: visdom ships only as an sdist whose setup.py imports pkg_resources, which setuptools 81 removed.
_VISDOM_BUILD = ["setuptools<81"]
_DENSITY_PAPER = ("Garrucho L, Kushibar K, Osuala R, et al. High-resolution synthesis of high-density breast mammograms: "
                  "application to improved fairness in deep learning based mass detection. Front Oncol 12:1044496, 2023")
_IWBI = ("Szafranowska Z, Osuala R, et al. Sharing generative models instead of private data: a simulation study on "
         "mammography patch classification. Proc SPIE 12286, 16th International Workshop on Breast Imaging (IWBI 2022)")
_POLYP_PAPER = ("Thambawita V, Salehi P, Sheshkal SA, et al. SinGAN-Seg: synthetic training data generation for medical "
                "image segmentation. PLoS One 17(5):e0267976, 2022")
_MEDIGAN = ("Osuala R, Skorupko G, Lazrak N, et al. medigan: a Python library of pretrained generative models for "
            "medical image synthesis. J Med Imaging 10(6):061403, 2023")


def _cyclegan(number: str, name: str, record: int, view: str, dataset: str, perf: dict, title: str, comment: str) -> dict:
    upstream = f"{number}_CYCLEGAN_MMG_DENSITY_{name}"
    return {
        "upstream_id": upstream, "record": record, "zip": f"{upstream}.zip", "package": upstream,
        "weights_file": "latest_net_G_A.pth", "function": "generate", "base_args": _BASE_I2I,
        "custom_args": {"translate_all_images": False, "input_path": f"models/{upstream}/images",
                        "image_size": [1332, 800], "gpu_id": 0, "low_to_high": True},
        "latent": None, "image_size": [1332, 800], "channels": 1, "modality": "mammography", "anatomy": "breast",
        "architecture": f"CycleGAN generator (ResNet blocks), low-to-high breast density, {view} view, 1332x800",
        "dataset": dataset, "input": "image", "input_arg": "input_path", "dependencies": _CYCLEGAN_DEPS,
        "requirements": _CYCLEGAN_PINS, "build_constraints": _VISDOM_BUILD, "selection": _cyclegan_mmg(perf, name.split("_")[0]),
        "title": title, "comment": comment, "license": "BSD", "doi": "10.48550/arXiv.2209.09809", "citation": _DENSITY_PAPER,
        "year": "2022",
    }


_CYCLEGAN_COMMENT = ("A cycle generative adversarial network (CycleGAN) that generates mammograms with high breast "
                     "density from an original mammogram, e.g. with low breast density. Trained on normal digital "
                     "mammograms (without pathologies) from {dataset}.")

#: One entry per original model, in the original's order.
UPSTREAM: list[dict[str, Any]] = [
    {
        "upstream_id": "00001_DCGAN_MMG_CALC_ROI", "record": 7031735, "zip": "00001_DCGAN_MMG_CALC_ROI.zip",
        "package": "00001_DCGAN_MMG_CALC_ROI", "weights_file": "DCGAN.pt", "function": "generate",
        "base_args": _BASE_NOISE, "custom_args": {"image_size": 128}, "latent": 100, "image_size": [128, 128],
        "channels": 1, "modality": "mammography", "anatomy": "breast",
        "architecture": "DCGAN generator (latent 100, 128x128, one grey channel)",
        "dataset": "INbreast: calcification ROIs", "dependencies": ["numpy", "Path", "torch", "opencv-contrib-python-headless"],
        "requirements": _MMG_PINS,
        "selection": _mmg_noise(_performance(1000, 67.60, 0.497, 1.27, 0.197), "INbreast",
                                ["calcification", "calcifications", "calcification roi", "calcification ROI",
                                 "calcification images", "calcification region of interest"],
                                [*_MMG_TAGS, "128x128", "128 x 128", "MammoGANs", "Microcalcification", "Microcalcifications"],
                                "2021", augmentations=["crop and resize", *_FLIPS]),
        "title": "DCGAN Model for Mammogram Calcification Region of Interest Generation (Trained on INbreast)",
        "comment": ("A deep convolutional GAN that generates regions of interest of mammograms containing benign and/or "
                    "malignant calcifications, 128x128 pixels, trained on ROIs from INbreast (Moreira et al, 2012)."),
        "license": "MIT", "doi": "10.5281/zenodo.5187714", "citation": _MEDIGAN, "year": "2021",
    },
    {
        "upstream_id": "00002_DCGAN_MMG_MASS_ROI", "record": 6647242, "zip": "MALIGN_DCGAN.zip", "package": "MALIGN_DCGAN",
        "weights_file": "malign_mass_gen", "function": "generate", "base_args": _BASE_NOISE, "custom_args": {},
        "latent": 200, "image_size": [128, 128], "channels": 1, "modality": "mammography", "anatomy": "breast",
        "architecture": "DCGAN generator (latent 200, LeakyReLU, 128x128, one grey channel)",
        "dataset": "OPTIMAM (OMI-DB): malignant mass ROIs", "dependencies": ["numpy", "torch", "opencv-contrib-python-headless"],
        "requirements": _MMG_PINS,
        "selection": _mmg_noise(_performance(
            1000, 80.51, 0.358, 6.19, 0.036, clf_delta=0.06,
            turing={"number_radiologists": 2, "AUC": [0.56, 0.45], "accuracy": [0.48, 0.61], "years_experience": [7, 25]},
            clf=_task(both={"f1": 0.96}, real={"f1": 0.90})), "Optimam",
            ["mass", "masses", "breast masses", "mass rois", "mass ROIs", "mass images", "breast mass ROIs"],
            ["Turing Test", "Visual Turing Test", *_MMG_TAGS, "128 x 128", "128x128", "MammoGANs", "Nodule", "Nodules",
             "Breast mass"], "2019", augmentations=[], vendors=["Hologic Inc"]),
        "title": "DCGAN Model for Mammogram Mass Region of Interest Generation (Trained on OPTIMAM)",
        "comment": ("A deep convolutional GAN that generates regions of interest of mammograms containing malignant "
                    "masses, 128x128 pixels, trained on ROIs from OPTIMAM (Halling-Brown et al, 2014)."),
        "license": "MIT", "doi": "10.1117/12.2543506",
        "citation": ("Alyafi B, Diaz O, Marti R. DCGANs for realistic breast mass augmentation in X-ray mammography. "
                     "Proc SPIE 11314, Medical Imaging 2020: Computer-Aided Diagnosis, 1131420, 2020"),
        "year": "2019", "extra_doi": ["10.5281/zenodo.5188557", "10.1117/12.2560473"],
    },
    {
        "upstream_id": "00003_CYCLEGAN_MMG_DENSITY_FULL", "record": 7093550, "zip": "00003_CYCLEGAN_MMG_DENSITY_FULL.zip",
        "package": "00003_CYCLEGAN_MMG_DENSITY_FULL", "weights_file": "CycleGAN_high_density.pth", "function": "generate",
        "base_args": _BASE_I2I,
        "custom_args": {"translate_all_images": False, "input_path": "models/00003_CYCLEGAN_MMG_DENSITY_FULL/images",
                        "image_size": [1332, 800], "gpu_id": 0},
        "latent": None, "image_size": [1332, 800], "channels": 1, "modality": "mammography", "anatomy": "breast",
        "architecture": "CycleGAN generator (ResNet blocks), low-to-high breast density, 1332x800",
        "dataset": "BCDR: normal full-field digital mammograms", "input": "image", "input_arg": "input_path",
        "dependencies": _CYCLEGAN_DEPS, "requirements": _CYCLEGAN_PINS, "build_constraints": _VISDOM_BUILD,
        "selection": _cyclegan_mmg(_performance(74, 150.16, 0.439, 3.00, 0.265, det_delta=0.06,
                                                det=_task(both={"AUC": 0.89}, real={"AUC": 0.83})), "BCDR"),
        "title": "CycleGAN Model for Low-to-High Brest Density Mammograms Translation (Trained on BCDR)",
        "comment": _CYCLEGAN_COMMENT.format(dataset="BCDR (Lopez et al, 2012)"),
        "license": "BSD", "doi": "10.48550/arXiv.2209.09809", "citation": _DENSITY_PAPER, "year": "2021",
    },
    {
        "upstream_id": "00004_PIX2PIX_MMG_MASSES_W_MASKS", "record": 7093760, "zip": "00004_PIX2PIX_MMG_MASSES_W_MASKS.zip",
        "package": "00004_PIX2PIX_MMG_MASSES_W_MASKS", "weights_file": "pix2pix_mask_to_mass_model.pth",
        "function": "generate_GAN_images", "base_args": _BASE_I2I,
        "custom_args": {"input_path": "models/00004_PIX2PIX_MMG_MASSES_W_MASKS/images", "image_size": [256, 256],
                        "patch_size": [32, 32], "shapes": ["oval", "lobulated"], "ssim_threshold": 0.2, "gpu_id": 0},
        "latent": None, "image_size": [256, 256], "channels": 1, "outputs": "image+mask", "output": "image_mask_pair",
        "modality": "mammography", "anatomy": "breast",
        "architecture": "pix2pix (U-Net generator) from a random Bezier mass mask tiled with real texture patches, 256x256",
        "dataset": "BCDR: mass patches with masks",
        "dependencies": [*_CYCLEGAN_DEPS, "imageio", "scikit-image"],
        "requirements": [*_CYCLEGAN_PINS, "imageio>=2.31", "scikit-image>=0.22"], "build_constraints": _VISDOM_BUILD,
        "selection": _selection(
            _performance(199, 161.17, 0.423, None, None, det_delta=None, seg=_task(fake={"Dice": 0.737}, real={"Dice": 0.865})),
            ["segmentation"], _BREAST, _MMG_MODALITY, ["mask to image", "image generation", "data augmentation"], ["BCDR"],
            ["resize"], ["regions of interest", "ROI", "mammograms", "patches", "full-field digital mammograms"], 256, 256,
            None, "pix2pix", "BSD", [*_MMG_TAGS, "pix2pix", "Pix2Pix", "Mass segmentation", "Breast lesion"], "2021"),
        "title": ("Generates synthetic patches given a random mask tiled with texture patches extracted from real images "
                  "(Trained on BCDR)"),
        "comment": ("Generates synthetic mass patches and their masks from random masks tiled with texture patches "
                    "extracted from within and outside masses of real images (shipped in the package)."),
        "license": "BSD", "doi": "10.5281/zenodo.5863095", "citation": _MEDIGAN, "year": "2021",
    },
    {
        "upstream_id": "00005_DCGAN_MMG_MASS_ROI", "record": 7031758, "zip": "00005_DCGAN_MMG_MASS_ROI.zip",
        "package": "00005_DCGAN_MMG_MASS_ROI", "weights_file": "500.pt", "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {}, "latent": 100, "image_size": [128, 128], "channels": 1, "modality": "mammography",
        "anatomy": "breast", "architecture": "DCGAN generator (latent 100, 128x128, one grey channel)",
        "dataset": "BCDR: mass patches", "dependencies": ["numpy", "torch", "opencv-contrib-python-headless"],
        "requirements": _MMG_PINS,
        "selection": _mmg_noise(_performance(
            199, 180.04, 0.379, 1.67, 0.593, clf_delta=0.029, det_delta=None,
            clf=_task(both={"f1": 0.920, "AUC": 0.959, "AUPRC": 0.992}, real={"f1": 0.891, "AUC": 0.928, "AUPRC": 0.986})),
            "BCDR", _MASS, _MASS_TAGS, "2021"),
        "title": "DCGAN Model for Mammogram MASS Patch Generation (Trained on BCDR)",
        "comment": "A deep convolutional GAN that generates 128x128 mass patches of mammograms, trained on BCDR patches.",
        "license": "MIT", "doi": "10.48550/arXiv.2203.04961", "citation": _IWBI, "year": "2021",
    },
    {
        "upstream_id": "00006_WGANGP_MMG_MASS_ROI", "record": 7031763, "zip": "00006_WGANGP_MMG_MASS_ROI.zip",
        "package": "00006_WGANGP_MMG_MASS_ROI", "weights_file": "10000.pt", "function": "generate",
        "base_args": _BASE_NOISE, "custom_args": {}, "latent": 100, "image_size": [128, 128], "channels": 1,
        "modality": "mammography", "anatomy": "breast", "architecture": "WGAN-GP generator (latent 100, 128x128)",
        "dataset": "BCDR: mass patches", "dependencies": ["numpy", "torch", "opencv-contrib-python-headless"],
        "requirements": _MMG_PINS,
        "selection": _mmg_noise(_performance(
            199, 221.30, 0.308, 1.80, 0.550, clf_delta=0.078, det_delta=None,
            clf=_task(both={"f1": 0.969, "AUC": 0.978, "AUPRC": 0.996}, real={"f1": 0.891, "AUC": 0.928, "AUPRC": 0.986})),
            "BCDR", _MASS, _MASS_TAGS, "2022", "WGAN-GP"),
        "title": "WGAN-GP Model for Mammogram MASS Patch Generation (Trained on BCDR)",
        "comment": "A Wasserstein GAN with gradient penalty that generates 128x128 mass patches of mammograms (BCDR).",
        "license": "MIT", "doi": "10.48550/arXiv.2203.04961", "citation": _IWBI, "year": "2022",
    },
    {
        "upstream_id": "00007_INPAINT_BRAIN_MRI", "record": 10214796, "zip": "00007_INPAINT_BRAIN_MRI.zip",
        "package": "00007_INPAINT_BRAIN_MRI", "weights_file": "inp_gen.pth", "function": "generate",
        "base_args": _BASE_NOISE,
        "custom_args": {"image_size": 256, "num_inpaints_per_sample": 2, "randomize_input_image_order": True,
                        "F_img_path": None, "T1_img_path": None, "T1c_img_path": None, "T2_img_path": None,
                        "add_variations_to_mask": True, "x_center": 130, "y_center": 130, "radius_1": 10,
                        "radius_2": 15, "radius_3": 30},
        "latent": None, "image_size": [256, 256], "channels": 1, "outputs": "image+mask", "output": "image_mask_pair",
        "modality": "mri", "anatomy": "brain",
        "architecture": "Tumour inpainting GAN: concentric circles -> tumour grade mask -> inpainted Flair/T1/T1c/T2, 256x256",
        "dataset": "BRATS 2018 brain MRI (Menze et al)",
        "dependencies": ["matplotlib", "albumentations", "torch", "torchvision", "numpy", "pillow", "opencv-contrib-python"],
        "requirements": ["matplotlib>=3.7", "albumentations>=1.4", TORCH, TORCHVISION, NUMPY, PILLOW,
                         "opencv-contrib-python-headless>=4.8"],
        "selection": _selection(
            _performance(1000, 140.02, 0.219, 5.31, 0.012, seg_delta=0.018, det_delta=None,
                         seg=_task(both={"dice": 0.814}, real={"dice": 0.796})),
            ["segmentation", "classification", "detection"], ["brain", "cranial", "head"],
            ["MRI", "Cranial MRI", "Brain MRI", "Flair", "T1", "T1c", "T1 contrast-enhanced", "T2"],
            ["image inpainting", "mask to image", "circle to tumor grade", "tumor grade to image", "cross-modal synthesis",
             "data augmentation", "domain-adaptation"], ["BRATS"], [],
            ["brain MRI", "Flair", "T1", "T1c", "T2", "binary mask", "tumor grade mask"], 256, 256, 1, "Inpaint Generator",
            None, ["Brain", "Tumor", "MRI Generation", "Inpainting", "Brain MRI Synthesis", "Concentric Circle",
                   "Tumor Inpainting", "Tumor Grade", "Tumor Grading", "Cross-Modality", "Multi-modal synthesis"], "2022"),
        "title": "Tumor Inpainting Model for Generation of Flair, T1, T1c, T2 Brain MRI Images (Trained on BRATS)",
        "comment": ("A GAN that inpaints tumours, from concentric-circle tumour grade masks, into multi-modal brain MRI "
                    "(Flair, T1, T1c, T2) of 256x256; the package ships example input images."),
        "license": "unknown (not stated by the original config)", "doi": "10.1002/mp.14701",
        "citation": ("Kim S, Kim B, Park H. Synthesis of brain tumor multicontrast MR images for improved data augmentation. "
                     "Med Phys 48(5):2185-2198, 2021"),
        "year": "2022", "extra_doi": ["10.48550/arXiv.2003.07526"],
    },
    {
        "upstream_id": "00008_C-DCGAN_MMG_MASSES", "record": 7382545, "zip": "00008_C-DCGAN_MMG_MASSES.zip",
        "package": "00008_C-DCGAN_MMG_MASSES", "weights_file": "1400_ckpt_train_cbis_ddsm.pt", "function": "generate",
        "base_args": _BASE_NOISE, "custom_args": {"condition": None, "z": None, "is_cbisddsm_training_data": True},
        "latent": 100, "latent_arg": "z", "image_size": [128, 128], "channels": 1, "modality": "mammography",
        "anatomy": "breast", "architecture": "Class-conditional DCGAN generator (latent 100, benign/malignant, 128x128)",
        "dataset": "CBIS-DDSM: mass patches", "dependencies": ["numpy", "torch", "opencv-contrib-python-headless"],
        "requirements": _MMG_PINS, "conditions": {"malignancy": ["benign", "malignant"]},
        "condition_arg": {"arg": "condition", "condition": "malignancy", "values": {"benign": 1, "malignant": 0}},
        "selection": _mmg_noise(_performance(379, 137.75, 0.272, 3.05, 0.151, det_delta=None), "CBIS-DDSM", _MASS,
                                _MASS_TAGS, "2022", "Conditional DCGAN",
                                use_cases=["classification", "malignant versus benign classification"]),
        "title": ("Conditional DCGAN Model for Patch Generation of Mammogram Masses Conditioned on Biopsy Proven "
                  "Malignancy Status (Trained on CBIS-DDSM)"),
        "comment": ("A class-conditional DCGAN that generates 128x128 mass patches conditioned to be benign (1) or "
                    "malignant (0), trained on CBIS-DDSM (Sawyer Lee et al, 2016)."),
        "license": "MIT", "doi": "", "citation": _MEDIGAN, "year": "2022",
    },
    {
        "upstream_id": "00009_PGGAN_POLYP_PATCHES_W_MASKS", "record": 6653744, "zip": "ProGAN-4ch.zip",
        "package": "ProGAN-4ch", "weights_file": "ProGAN_300000_g.model", "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {"z_dim": 128, "save_option": "image_and_mask", "gpu_id": None, "channel": 128,
                        "pixel_norm": False, "img_channels": 4, "tanh": False, "step": 6, "alpha": 1},
        "latent": 128, "image_size": [256, 256], "channels": 3, "outputs": "image+mask", "output": "image_mask_channels",
        "modality": "endoscopy", "anatomy": "colon",
        "architecture": "Progressively growing GAN generator: RGB polyp image + mask as a 4th channel, 256x256",
        "dataset": "HyperKvasir: polyp images with segmentation masks",
        "dependencies": ["torch", "torchvision", "numpy", "pillow", "glob2", "opencv-contrib-python", "scikit-image",
                         "natsort", "matplotlib"],
        "requirements": [TORCH, TORCHVISION, NUMPY, PILLOW, "glob2>=0.7", "opencv-contrib-python-headless>=4.8",
                         "scikit-image>=0.22", "natsort>=8", "matplotlib>=3.7"],
        "selection": _polyp(_performance(1000, 225.85, 0.192, None, None, det_delta=None,
                                         seg=_task(fake={"dice_loss": 0.137}, real={"dice_loss": 0.112})),
                            256, 256, 4, "Progressively-growing GAN (PGGAN)", "MIT", [*_POLYP_TAGS, "256x256", "256 x 256"]),
        "title": "PGGAN Model for Patch Generation of Polyps with Corresponding Segmentation Masks (Trained on HyperKvasir)",
        "comment": ("A progressively growing GAN that generates a 4-channel output: an RGB polyp image (channels 1-3) "
                    "and its segmentation mask (channel 4), 256x256, trained on HyperKvasir (Borgli et al, 2020)."),
        "license": "MIT", "doi": "10.1371/journal.pone.0267976", "citation": _POLYP_PAPER, "year": "2022",
    },
    {
        "upstream_id": "00010_FASTGAN_POLYP_PATCHES_W_MASKS", "record": 7051328,
        "zip": "00010_FASTGAN_POLYP_PATCHES_W_MASKS.zip", "package": "00010_FASTGAN_POLYP_PATCHES_W_MASKS",
        "weights_file": "FastGAN_all_50000.pth", "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {"save_option": "image_and_mask", "gpu_id": None}, "latent": 256, "image_size": [256, 256],
        "channels": 3, "outputs": "image+mask", "output": "image_mask_channels", "modality": "endoscopy", "anatomy": "colon",
        "architecture": "FastGAN generator: RGB polyp image + mask as a 4th channel, 256x256",
        "dataset": "HyperKvasir: polyp images with segmentation masks",
        "dependencies": ["torch", "scipy", "torchvision", "opencv-contrib-python", "pandas", "easing-functions",
                         "scikit-image", "matplotlib", "ipdb", "lmdb", "numpy"],
        "requirements": [TORCH, "scipy>=1.10", TORCHVISION, "opencv-contrib-python-headless>=4.8", "pandas>=2",
                         "easing-functions>=1.0.4", "scikit-image>=0.22", "matplotlib>=3.7", "ipdb>=0.13", "lmdb>=1.4", NUMPY],
        "selection": _polyp(_performance(1000, 63.99, 0.677, 7.32, 0.015, det_delta=None,
                                         seg=_task(fake={"IoU": 0.798}, real={"IoU": 0.827})),
                            256, 256, 4, "FastGAN", "GNU GENERAL PUBLIC LICENSE", [*_POLYP_TAGS, "256x256", "256 x 256"]),
        "title": "FastGAN Model for Patch Generation of Polyps with Corresponding Segmentation Masks (Trained on HyperKvasir)",
        "comment": ("A FastGAN (Liu et al, ICLR 2021) that generates a 4-channel output: an RGB polyp image (channels 1-3) "
                    "and its segmentation mask (channel 4), 256x256, trained on HyperKvasir."),
        "license": "GPL-3.0 (GNU General Public License, as the original config states)", "doi": "10.1371/journal.pone.0267976",
        "citation": _POLYP_PAPER, "year": "2022",
    },
    {
        "upstream_id": "00011_SINGAN_POLYP_PATCHES_W_MASKS", "record": 7117187,
        "zip": "00011_SINGAN_POLYP_PATCHES_W_MASKS.zip", "package": "00011_SINGAN_POLYP_PATCHES_W_MASKS",
        "weights_file": "singan_seg_polyp/SinGAN-Generated/TrainedModels_1_clean/1/Gs.pth", "function": "generate",
        "base_args": _BASE_NOISE,
        "custom_args": {"model_files": "models/00011_SINGAN_POLYP_PATCHES_W_MASKS/singan_seg_polyp/SinGAN-Generated",
                        "gen_start_scale": 0, "checkpoint_ids": None, "multiple_checkpoints": False},
        "latent": None, "image_size": [250, 250], "channels": 3,
        "outputs": "image+mask", "output": "image_mask_pair", "modality": "endoscopy", "anatomy": "colon",
        "architecture": "SinGAN (one multi-scale generator per training image): RGB polyp image and its mask, ~250x250",
        "dataset": "HyperKvasir: polyp images with segmentation masks",
        "dependencies": ["numpy", "tqdm", "torch", "torchvision", "pandas", "PyYAML", "scipy", "scikit-image",
                         "scikit-learn", "requests", "natsort", "matplotlib"],
        "requirements": [NUMPY, "tqdm>=4.60", TORCH, TORCHVISION, "pandas>=2", "pyyaml>=6", "scipy>=1.10",
                         "scikit-image>=0.22", "scikit-learn>=1.3", "requests>=2.31", "natsort>=8", "matplotlib>=3.7"],
        "selection": _polyp(_performance(1000, 171.15, 0.253, None, None, det_delta=None,
                                         seg=_task(fake={"f1": 0.863}, real={"f1": 0.888})),
                            250, 250, 3, "SinGAN", "MIT", _POLYP_TAGS),
        "title": "SinGAN Model for Patch Generation of Polyps with Corresponding Segmentation Masks (Trained on HyperKvasir)",
        "comment": ("SinGAN generators that output an RGB polyp image and a 3-channel segmentation mask; the width of "
                    "an output follows the training image of the checkpoint used."),
        "license": "MIT", "doi": "10.1371/journal.pone.0267976", "citation": _POLYP_PAPER, "year": "2022",
    },
    {
        "upstream_id": "00012_C-DCGAN_MMG_MASSES", "record": 7031755, "zip": "00012_C-DCGAN_MMG_MASSES.zip",
        "package": "00012_C-DCGAN_MMG_MASSES", "weights_file": "1250.pt", "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {"condition": None, "z": None}, "latent": 100, "latent_arg": "z", "image_size": [128, 128],
        "channels": 1, "modality": "mammography", "anatomy": "breast",
        "architecture": "Class-conditional DCGAN generator (latent 100, benign/malignant, 128x128)",
        "dataset": "BCDR: mass patches", "dependencies": ["numpy", "torch", "opencv-contrib-python-headless"],
        "requirements": _MMG_PINS, "conditions": {"malignancy": ["benign", "malignant"]},
        "condition_arg": {"arg": "condition", "condition": "malignancy", "values": {"benign": 1, "malignant": 0}},
        "selection": _mmg_noise(_performance(199, 205.29, 0.332, 5.69, 0.080, det_delta=None), "CBIS-DDSM", _MASS,
                                _MASS_TAGS, "2022", "Conditional DCGAN",
                                use_cases=["classification", "malignant versus benign classification"]),
        "title": ("Conditional DCGAN Model for Patch Generation of Mammogram Masses Conditioned on Biopsy Proven "
                  "Malignancy Status (Trained on BCDR)"),
        "comment": ("A class-conditional DCGAN that generates 128x128 mass patches conditioned to be benign (1) or "
                    "malignant (0), trained on BCDR (Lopez et al, 2012)."),
        "license": "MIT", "doi": "", "citation": _MEDIGAN, "year": "2022",
    },
    _cyclegan("00013", "OPTIMAM_MLO", 7093556, "MLO", "OPTIMAM (OMI-DB): normal mammograms, MLO view",
              _performance(358, 101.01, 0.650, 1.14, 0.153, det_delta=None),
              "CycleGAN Model for Low-to-High Brest Density Mammograms Translation of MLO VIEW (Trained on OPTIMAM)",
              _CYCLEGAN_COMMENT.format(dataset="OPTIMAM (Halling-Brown et al, 2014)")),
    _cyclegan("00014", "OPTIMAM_CC", 7093553, "CC", "OPTIMAM (OMI-DB): normal mammograms, CC view",
              _performance(350, 73.77, 0.564, 0.83, 0.190, det_delta=0.02, det=_task(both={"AUC": 0.85}, real={"AUC": 0.83})),
              "CycleGAN Model for Low-to-High Brest Density Mammograms Translation of CC VIEW (Trained on OPTIMAM)",
              _CYCLEGAN_COMMENT.format(dataset="OPTIMAM (Halling-Brown et al, 2014)")),
    _cyclegan("00015", "CSAW_MLO", 7093566, "MLO", "CSAW: normal mammograms, MLO view",
              _performance(192, 162.67, 0.461, 4.07, 0.076, det_delta=0.02, det=_task(both={"AUC": 0.85}, real={"AUC": 0.83})),
              "CycleGAN Model for Low-to-High Brest Density Mammograms Translation of MLO VIEW (Trained on CSAW)",
              _CYCLEGAN_COMMENT.format(dataset="CSAW (Dembrower et al, 2020)")),
    _cyclegan("00016", "CSAW_CC", 7093559, "CC", "CSAW: normal mammograms, CC view",
              _performance(202, 98.38, 0.434, 2.71, 0.142, det_delta=None),
              "CycleGAN Model for Low-to-High Brest Density Mammograms Translation of CC VIEW (Trained on CSAW)",
              _CYCLEGAN_COMMENT.format(dataset="CSAW (Dembrower et al, 2020)")),
    {
        "upstream_id": "00017_DCGAN_XRAY_LUNG_NODULES", "record": 6943692, "zip": "00017_DCGAN_NODE21.zip",
        "package": "00017_DCGAN_NODE21", "weights_file": "model.pt", "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {}, "latent": 120, "image_size": [128, 128], "channels": 1, "modality": "xray", "anatomy": "lung",
        "architecture": "DCGAN generator (latent 120, 128x128, one grey channel)",
        "dataset": "NODE21: chest X-ray nodule patches", "dependencies": ["numpy", "tqdm", "torch"],
        "requirements": _NODE21_PINS,
        "selection": _xray(_performance(1476, 126.78, 0.192, None, None, det_delta=None), ["classification"], "Node21",
                           _NODULES, 128, 1, "DCGAN"),
        "title": "DCGAN Model for Patch Generation of Lung Nodules (Trained on Node21)",
        "comment": ("An unconditional DCGAN that generates 128x128 lung nodule patches of chest X-rays, trained on "
                    "NODE21 (Sogancioglu et al, 2021)."),
        "license": "MIT", "doi": "", "citation": _MEDIGAN, "year": "2022",
    },
    {
        "upstream_id": "00018_WGANGP_XRAY_LUNG_NODULES", "record": 6943762, "zip": "00018_WGANGP_NODE21.zip",
        "package": "00018_WGANGP_NODE21", "weights_file": "model.pt", "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {}, "latent": 100, "image_size": [128, 128], "channels": 1, "modality": "xray", "anatomy": "lung",
        "architecture": "WGAN-GP generator (latent 100, 128x128, one grey channel)",
        "dataset": "NODE21: chest X-ray nodule patches", "dependencies": ["numpy", "tqdm", "torch"],
        "requirements": _NODE21_PINS,
        "selection": _xray(_performance(1476, 211.47, 0.115, None, None, det_delta=None), ["classification"], "Node21",
                           _NODULES, 128, 1, "WGANGP"),
        "title": "WGANGP Model for Patch Generation of Lung Nodules (Trained on Node21)",
        "comment": ("An unconditional WGAN-GP that generates 128x128 lung nodule patches of chest X-rays, trained on "
                    "NODE21 (Sogancioglu et al, 2021)."),
        "license": "MIT", "doi": "", "citation": _MEDIGAN, "year": "2022",
    },
    {
        "upstream_id": "00019_PGGAN_CHEST_XRAY", "record": 7047097, "zip": "00019_PGGAN_CHEST_XRAY.zip",
        "package": "00019_PGGAN_NODE21", "weights_file": "model.pt", "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {}, "latent": 1024, "image_size": [1024, 1024], "channels": 1, "modality": "xray",
        "anatomy": "chest", "architecture": "Progressively growing GAN generator (latent 1024, 1024x1024, one grey channel)",
        "dataset": "ChestX-ray14 (Wang et al, 2017)", "dependencies": ["numpy", "tqdm", "torch"],
        "requirements": _NODE21_PINS,
        "selection": _xray(_performance(1000, 96.74, 0.297, 0.77, 0.243, det_delta=None), ["classification", "detection"],
                           "Node21", _CXR, 1024, 1, "PGGAN"),
        "title": "PGGAN Model for Generation of Chest XRAY (CXR) Images (Trained on the ChestX-ray14 Dataset)",
        "comment": "An unconditional progressively growing GAN that generates 1024x1024 chest X-rays (ChestX-ray14).",
        "license": "MIT", "doi": "", "citation": _MEDIGAN, "year": "2022",
    },
    {
        "upstream_id": "00020_PGGAN_CHEST_XRAY", "record": 7047295, "zip": "00020_PGGAN_CHEST_XRAY.zip",
        "package": "00020_PGGAN_CHEST_XRAY", "weights_file": "Final_Full_Model.pth", "function": "generate",
        "base_args": _BASE_NOISE, "custom_args": {"image_size": 1024, "resize_pixel_dim": None}, "latent": 512,
        "image_size": [1024, 1024], "channels": 3, "modality": "xray", "anatomy": "chest",
        "architecture": "Progressively growing GAN generator in PyTorch Lightning (latent 512, 1024x1024, RGB)",
        "dataset": "ChestX-ray14 (Wang et al, 2017)",
        "dependencies": ["pytorch-lightning==1.2.10", "torch", "torchvision", "matplotlib", "pillow", "numpy"],
        "requirements": ["pytorch-lightning==1.2.10", TORCH, TORCHVISION, "matplotlib>=3.7", PILLOW, NUMPY,
                         "setuptools<81"],
        "overrides": TORCHVISION_OVERRIDES,
        "pin_notes": ("pytorch-lightning stays at 1.2.10, the version the original pinned and the checkpoint was saved "
                      "with; it imports on torch 2.13 (checked by `medigan env create`). Adjusted: setuptools<81 is a "
                      "requirement because pytorch-lightning 1.2.10 imports pkg_resources at import time, which "
                      "setuptools 81 removed. " + TORCHVISION_NOTE),
        "selection": _xray(_performance(1000, 52.17, 0.543, 2.83, 0.071, det_delta=None,
                                        clf=_task(fake={"AUC": 0.878}, real={"AUC": 0.947})),
                           ["classification", "detection"], "ChestX-ray14", _CXR, 1028, 3, "PGGAN", augmentations=[]),
        "title": "PGGAN Model for Generation of Chest XRAY (CXR) Images (Trained on ChestX-ray14 Dataset)",
        "comment": "An unconditional progressively growing GAN that generates 1024x1024 chest X-rays (ChestX-ray14).",
        "license": "MIT", "doi": "10.1007/s42979-021-00720-7",
        "citation": ("Segal B, Rubin DM, Rubin G, Pantanowitz A. Evaluating the clinical realism of synthetic chest X-rays "
                     "generated using progressively growing GANs. SN Comput Sci 2:321, 2021"),
        "year": "2022",
    },
    {
        "upstream_id": "00021_CYCLEGAN_BRAIN_MRI_T1_T2", "record": 7113464, "zip": "00021_CYCLEGAN_BRAIN_MRI_T1_T2.zip",
        "package": "00021_CYCLEGAN_BRAIN_MRI_T1_T2", "weights_file": "netG_T1toT2_checkpoint.pth.tar",
        "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {"input_path": "models/00021_CYCLEGAN_BRAIN_MRI_T1_T2/inputs/T1", "gpu_id": "0",
                        "translate_all_images": False, "T1_to_T2": True},
        "latent": None, "image_size": [224, 192], "channels": 1, "modality": "mri", "anatomy": "brain",
        "architecture": "CycleGAN generator, brain MRI T1 -> T2 (label-preserving), 224x192",
        "dataset": "CrossMoDA 2021 (vestibular schwannoma and cochlea)", "input": "image", "input_arg": "input_path",
        "dependencies": ["matplotlib", "Pillow", "torch", "torchvision"],
        "requirements": ["matplotlib>=3.7", PILLOW, TORCH, TORCHVISION],
        "selection": _selection(
            _performance(1000, 59.49, 0.410, 1.45, 0.014, det_delta=None,
                         seg=_task(fake={"dice": 0.712, "dice_tumor": 0.712, "dice_cochlea": 0.478})),
            ["segmentation"], ["Brain"], ["T1", "T2"], [], ["CrossMoDA 2021"], ["HorizontalFlip", "Rotation"],
            ["Brain", "2D", "MRI", "T1", "T2"], 224.0, 192.0, None, "CycleGAN", None,
            ["Domain Adaptation", "Brain MRI", "Vestibular Schwanomma", "Segmentation", "Cross Modal Domain Translation"],
            2021),
        "title": "CycleGAN Brain MRI T1-T2 translation (trained on CrossMoDA 2021 dataset)",
        "comment": ("A CycleGAN extended to generate label-preserving T2 brain MRI from T1 (or back) for cross-modality "
                    "domain adaptation of vestibular schwannoma and cochlea segmentation."),
        "license": "unknown (not stated by the original config)", "doi": "10.1007/978-3-031-09002-8_47",
        "citation": ("Joshi S, Osuala R, Martin-Isla C, et al. nn-UNet training on CycleGAN-translated images for "
                     "cross-modal domain adaptation in biomedical imaging. BrainLes 2021, LNCS 12963, 2022"),
        "year": "2021",
    },
    {
        "upstream_id": "00022_WGAN_CARDIAC_AGING", "record": 7494368, "zip": "00022_WGAN_CARDIAC_AGING.zip",
        "package": "00022_WGAN_CARDIAC_AGING", "weights_file": "model.ckpt", "function": "generate",
        "base_args": _BASE_I2I,
        # One image per call (medigan asks for one sample per seed): the defaults its description gives, where the
        # config's example ages the same sample image three times ([-4, 10, 2]).
        "custom_args": {"image_paths_input": ["models/00022_WGAN_CARDIAC_AGING/sample_image.png"],
                        "aging_input": [-4], "data_type": "2d", "view": "la", "subcat": "2ch"},
        "latent": None, "image_size": [256, 256], "channels": 1,
        "modality": "mri", "anatomy": "heart",
        "architecture": "Conditional WGAN-GP: a cardiac MRI (long axis, 2-chamber) aged by a given offset in years, 256x256",
        "dataset": "UK Biobank cardiac MRI (non-public)", "dependencies": [
            "nibabel==3.2.1", "pytorch-lightning==1.4.7", "pandas", "comet-ml", "monai<=1.0.1", "grad-cam", "matplotlib",
            "monai[skimage]", "munch==2.5.0", "pillow>=7.0.0", "ffmpeg-python==0.2.0", "torchmetrics==0.6.0"],
        "requirements": ["nibabel==3.2.1", "pytorch-lightning==1.4.7", "pandas>=2", "comet-ml", "monai[skimage]==1.0.1",
                         "grad-cam", "matplotlib>=3.7", "munch==2.5.0", "pillow>=7.0.0", "ffmpeg-python==0.2.0",
                         "torchmetrics==0.6.0", TORCH, "numpy<2", "setuptools<81"],
        "overrides": TORCHVISION_OVERRIDES, "python": ">=3.10,<3.13",
        "pin_notes": ("Kept as the original pinned them (nibabel 3.2.1, pytorch-lightning 1.4.7, monai 1.0.1, "
                      "munch 2.5.0, ffmpeg-python 0.2.0, torchmetrics 0.6.0): the checkpoint is a Lightning checkpoint "
                      "of those versions; they import on torch 2.13 (checked by `medigan env create`). Adjusted: "
                      "numpy<2 (nibabel 3.2 reads np.sctypes, removed in NumPy 2.0), setuptools<81 (pytorch-lightning "
                      "1.4, torchmetrics 0.6 and munch import pkg_resources, removed in setuptools 81); Python below "
                      "3.13 because NumPy 1.x has no wheels for 3.13. grad-cam brings torchvision: " + TORCHVISION_NOTE),
        "conditions": {"age_offset": list(range(-20, 21))},
        "condition_arg": {"arg": "aging_input", "condition": "age_offset", "wrap": "list"},
        "selection": _selection(
            {}, ["classification", "segmentation"], ["heart", "chest"],
            ["MRI", "Cardiac imaging", "Cardiography", "full-field digital"], _I2I_FUNCTION, ["UK Biobank"], ["resize"],
            ["cardiac image", "full-field digital"], 256, 256, None, "pix2pix", None,
            ["Cardiac imaging", "pix2pix", "Pix2Pix"], "2022", condition=["age"], dataset_type="non-public"),
        "title": "Generates cardiac images with age offset from real images (Trained on UK Biobank)",
        "comment": ("A conditional WGAN-GP that ages a cardiac MRI by an offset in years; by default it ages the "
                    "sample image shipped in its package."),
        "license": "unknown (not stated by the original config)", "doi": "10.3389/fcvm.2022.983091",
        "citation": ("Campello VM, Xia T, Liu X, et al. Cardiac aging synthesis from cross-sectional data with conditional "
                     "generative adversarial networks. Front Cardiovasc Med 9:983091, 2022"),
        "year": "2022",
    },
    {
        "upstream_id": "00023_PIX2PIXHD_BREAST_DCEMRI", "record": 10215478, "zip": "00023.zip", "package": "00023",
        "weights_file": "30_net_G.pth", "function": "generate", "base_args": _BASE_NOISE,
        "custom_args": {"input_path": "input/", "image_size": "512", "gpu_id": "0"}, "latent": None,
        "image_size": [512, 512], "channels": 1, "modality": "mri", "anatomy": "breast",
        "architecture": "pix2pixHD generator: pre-contrast -> first post-contrast breast DCE-MRI slice, 512x512",
        "dataset": "Duke Breast Cancer MRI", "input": "image", "input_arg": "input_path",
        "dependencies": ["numpy", "torch", "torchvision", "pillow"], "requirements": [NUMPY, TORCH, TORCHVISION, PILLOW],
        "selection": _selection(
            {"SSIM": 0.726, "MSE": 34.88, "NSME": None, "PSNR": 32.91, "IS": None, "FID": 28.71, "turing_test": "",
             "downstream_task": {
                 "CLF": {"trained_on_fake": {"accuracy": None, "precision": None, "recall": None, "f1": None,
                                             "specificity": None, "AUROC": None, "AUPRC": None},
                         "trained_on_real_and_fake": {}, "trained_on_real": {}},
                 "SEG": {"trained_on_fake": {"dice": 0.687, "jaccard": None, "accuracy": None, "precision": None,
                                             "recall": None, "f1": None},
                         "trained_on_real_and_fake": {"dice": "0.797"}, "trained_on_real": {"dice": "0.790"}}}},
            ["segmentation", "tumour localization", "classification", "simulation"], ["breast"],
            ["dce-mri", "mri", "t1", "t1-weighted", "fat-saturated"], [], ["DUKE"], [], [], 512, 512, 1, "pix2pixHD",
            "BSD License", ["dce-mri", "postcontrast", "synthesis", "breast", "mri", "treatment", "i2i", "pix2pixHD", "SPIE"],
            2023, centres=["Duke Hospital"], dataset_type="DCE-MRI", privacy=""),
        "title": "Pre- to Post-Contrast Breast MRI Synthesis for Enhanced Tumour Segmentation",
        "comment": ("A pix2pixHD model that generates the first post-contrast DCE-MRI axial slice (512x512) from a "
                    "pre-contrast slice, checkpoint after 30 epochs, trained on the Duke breast MRI data set."),
        "license": "BSD", "doi": "10.48550/arXiv.2311.10879",
        "citation": ("Osuala R, Joshi S, Tsirikoglou A, et al. Pre- to post-contrast breast MRI synthesis for enhanced "
                     "tumour segmentation. Proc SPIE 12926, Medical Imaging 2024: Image Processing, 2024"),
        "year": "2023",
    },
]
