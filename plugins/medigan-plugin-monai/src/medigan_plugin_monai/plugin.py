"""Registers generative bundles of the MONAI model zoo. Imports nothing heavy: the cards are plain data.

Every number below was read from the bundle's files in Project-MONAI/model-zoo (``models/<bundle>/configs/
metadata.json``, ``configs/inference.*``, ``large_files.yml``): the network classes and their architecture
parameters, the scheduler, the weights' download links and the md5 the bundle publishes for them. The model zoo
repository is Apache-2.0 and these bundles ship no licence of their own (no ``docs/license.txt``), so their weights
are Apache-2.0; the data they were trained on has its own terms (see ``data_license``).
"""

from __future__ import annotations

from medigan_host import hookimpl
from medigan_host.cards import card_files, read_card_file

#: Folders of JSON cards of more bundles (separated by the path separator): a bundle is added by writing its card.
CARDS_ENV = "MEDIGAN_MONAI_CARDS"
#: Bundle folders themselves (configs/metadata.json, configs/inference.json, models/), read without a card: see bundle.py.
LOADER = "medigan_plugin_monai.runner:load"
_GRID = [round(i / 10, 1) for i in range(11)]  # the bundle takes any value in [0, 1]; the card offers tenths

MEDNIST_DDPM = {
    "id": "monai-mednist-ddpm-hand",
    "name": "MedNIST hand X-ray DDPM 64x64 (MONAI model zoo)",
    "version": "1.0.1",
    "description": "64x64 greyscale hand radiographs from the 'Hand' class of MedNIST, sampled by the MONAI model zoo's "
                   "mednist_ddpm bundle: a 2-D DiffusionModelUNet denoising pure noise over 1000 DDPM steps.",
    "framework": "pytorch",
    "modality": "xray",
    "anatomy": "hand",
    "image_size": [64, 64],
    "channels": 1,
    "license": "Apache-2.0",
    "architecture": "DDPM (Ho et al. 2020): monai.networks.nets.DiffusionModelUNet, 2-D, channels (64, 128, 128), "
                    "attention at levels 2 and 3, 1 residual block per level, 128-channel heads; DDPMScheduler, "
                    "1000 training timesteps",
    "dataset": "MedNIST (MONAI's MedNISTDataset, 64x64 images in six classes), class 'Hand' only, intensities "
               "scaled from [0, 255] to [0, 1] (the bundle's train.yaml)",
    "data_license": "the terms of MedNIST's source data sets apply to it; the bundle states none",
    "citation": "Pinaya WHL, Graham MS, Kerfoot E, et al. Generative AI for Medical Imaging: extending the MONAI "
                "Framework. arXiv:2307.15208, 2023",
    "doi": "10.48550/arXiv.2307.15208",
    "tags": ["monai", "model-zoo", "ddpm", "diffusion", "mednist", "hand", "xray", "pytorch"],
    "weights": [{"url": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/mednist_ddpm.pt",
                 "md5": "02fd8c8e8ed5f7cda5deeed72b69f4f1", "filename": "model.pt"}],
    "monai": {
        "bundle": "mednist_ddpm",
        "source": "https://github.com/Project-MONAI/model-zoo/tree/dev/models/mednist_ddpm",
        "diffusion": {"class": "DiffusionModelUNet", "weights": "model.pt",
                      "args": {"spatial_dims": 2, "in_channels": 1, "out_channels": 1, "channels": [64, 128, 128],
                               "attention_levels": [False, True, True], "num_res_blocks": 1, "num_head_channels": 128}},
        "scheduler": {"class": "DDPMScheduler", "args": {"num_train_timesteps": 1000}, "inference_steps": 1000},
        "output_range": [0.0, 1.0],
    },
    "caveats": "Research example of the MONAI model zoo ('suitable for research purposes only'); 1000 denoising "
               "steps make it slow on a CPU. Not for clinical use.",
}

BRAIN_LDM = {
    "id": "monai-brain-ldm-t1w",
    "name": "3-D brain T1w MRI latent diffusion, UK Biobank (MONAI model zoo)",
    "version": "1.0.0",
    "description": "160x224x160 T1-weighted head MRI volumes at 1 mm, conditioned on sex (the bundle's 'gender'), age, "
                   "ventricular volume and brain volume (each normalised to [0, 1]), sampled by the MONAI model zoo's "
                   "brain_image_synthesis_latent_diffusion_model bundle (Pinaya et al. 2022).",
    "framework": "pytorch",
    "modality": "mri",
    "anatomy": "brain",
    "image_size": [160, 224, 160],
    "channels": 1,
    "spacing": [1.0, 1.0, 1.0],
    "orientation_note": "the bundle's array axes, rigidly registered to MNI space (UniRes); written as RAS+ by the NIfTI "
                   "writer",
    "license": "Apache-2.0",
    "architecture": "Latent diffusion: monai.networks.nets.AutoencoderKL (3-D, 3 latent channels, channels (64, 128, "
                    "128, 128)) and a conditioned 3-D DiffusionModelUNet (channels (256, 512, 768), cross-attention on "
                    "the 4 conditions, which are also concatenated to the latent); DDIMScheduler, 50 steps",
    "dataset": "UK Biobank: T1w MRI of 31,740 participants, 1 mm isotropic, intensities normalised to [0, 1]",
    "data_license": "UK Biobank data are released to approved researchers under its access terms; the weights are "
                    "published by the MONAI model zoo under its Apache-2.0 licence",
    "conditions": {"gender": [0.0, 1.0], "age": _GRID, "ventricular_vol": _GRID, "brain_vol": _GRID},
    "condition_defaults": {"gender": 0.0, "age": 0.1, "ventricular_vol": 0.2, "brain_vol": 0.4},
    "citation": "Pinaya WHL, Tudosiu PD, Dafflon J, et al. Brain imaging generation with latent diffusion models. "
                "MICCAI Workshop on Deep Generative Models, 117-126, 2022",
    "metrics": {"fid": {"value": 0.0076, "reference": "UK Biobank, as published in the bundle's metadata.json"},
                "ms_ssim": 0.6555},
    "tags": ["monai", "model-zoo", "latent-diffusion", "ldm", "3d", "brain", "mri", "t1w", "uk-biobank", "pytorch"],
    "weights": [
        {"url": "https://drive.google.com/uc?export=download&id=1CZHwxHJWybOsDavipD0EorDPOo_mzNeX",
         "md5": "329e97b3085643ff235f11f049856242", "filename": "autoencoder.pt"},
        {"url": "https://drive.google.com/uc?export=download&id=1XO-ak93ZuOcGTCpgRtqgIeZq3dG5ExN6",
         "md5": "21c3047556fb671caf0556f1cce6ef22", "filename": "model.pt"},
    ],
    "monai": {
        "bundle": "brain_image_synthesis_latent_diffusion_model",
        "source": "https://github.com/Project-MONAI/model-zoo/tree/dev/models/brain_image_synthesis_latent_diffusion_model",
        "autoencoder": {"class": "AutoencoderKL", "weights": "autoencoder.pt", "load_old_state_dict": True,
                        "args": {"spatial_dims": 3, "in_channels": 1, "out_channels": 1, "latent_channels": 3,
                                 "channels": [64, 128, 128, 128], "num_res_blocks": 2, "norm_num_groups": 32,
                                 "norm_eps": 1e-06, "attention_levels": [False, False, False, False],
                                 "with_encoder_nonlocal_attn": False, "with_decoder_nonlocal_attn": False}},
        "diffusion": {"class": "DiffusionModelUNet", "weights": "model.pt", "load_old_state_dict": True,
                      "args": {"spatial_dims": 3, "in_channels": 7, "out_channels": 3, "channels": [256, 512, 768],
                               "num_res_blocks": 2, "attention_levels": [False, True, True], "norm_num_groups": 32,
                               "norm_eps": 1e-06, "resblock_updown": True, "num_head_channels": [0, 512, 768],
                               "with_conditioning": True, "transformer_num_layers": 1, "cross_attention_dim": 4,
                               "upcast_attention": True, "use_flash_attention": False}},
        "scheduler": {"class": "DDIMScheduler", "inference_steps": 50,
                      "args": {"beta_start": 0.0015, "beta_end": 0.0205, "num_train_timesteps": 1000,
                               "schedule": "scaled_linear_beta", "clip_sample": False}},
        "latent_shape": [3, 20, 28, 20],
        "conditioning": {"order": ["gender", "age", "ventricular_vol", "brain_vol"], "concat": True, "crossattn": True},
        "output_range": [0.0, 1.0],
    },
    "caveats": "'A research tool/prototype and not to be used clinically' (the bundle's intended use). The weights are "
               "two Google Drive files (large_files.yml): Drive answers large files with a confirmation page, which "
               "fails the md5 check; download them by hand and place them with `medigan cache place`. Sampling a "
               "volume takes minutes on a GPU and far longer on a CPU.",
}

CARDS = [MEDNIST_DDPM, BRAIN_LDM]


@hookimpl
def medigan_register_models(register):
    for card in CARDS:
        register(card, LOADER)
    for path in card_files(env=CARDS_ENV):
        register(read_card_file(path), LOADER)
    register_bundle_folders(register)


def register_bundle_folders(register) -> None:
    """Every MONAI bundle folder named in ``MEDIGAN_MONAI_BUNDLES``, read directly as a model (see bundle.py); a folder
    that is not a usable bundle is skipped with a warning that says why."""
    import os
    import warnings

    from .bundle import BUNDLES_ENV, BundleFolderError, bundle_card

    for folder in (p for p in os.environ.get(BUNDLES_ENV, "").split(os.pathsep) if p.strip()):
        try:
            card = bundle_card(folder)
        except (BundleFolderError, OSError, TypeError, ValueError) as exc:
            warnings.warn(f"medigan-plugin-monai: MONAI bundle {folder} skipped: {exc}", stacklevel=2)
            continue
        register(card, LOADER)
