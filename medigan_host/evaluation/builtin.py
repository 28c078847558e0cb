"""The host's own feature extractors: a default plugin, whose ``medigan_register_feature_extractors`` hook is called
before any installed plugin's (see :func:`medigan_host.hookcalls.collect_registrations`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..hookspecs import hookimpl
from .pcanet import FEATURE_DIM as PCANET_DIM

#: The name the host's own extractors are registered under.
PLUGIN_NAME = "medigan-host"

PCANET_SHA256 = "060ead4ba455a18d4404793c1c385142c43f435482279e2c8e0fd2fc71928219"
#: pytorch-fid's port of the TensorFlow FID Inception graph. The sha256 is the one recorded publicly for the copy
#: torch-fidelity distributes under the same torch-hub name (its hash prefix 6726825d is the file name's).
INCEPTION_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

EXTRACTORS: tuple[dict[str, Any], ...] = (
    {"name": "pcanet-phantoms", "framework": "numpy", "input_size": [64, 64], "channels": 1, "feature_dim": PCANET_DIM,
     "normalization": "unit", "resize": "antialias", "version": "1", "license": "MIT",
     "description": "Small two-stage PCA network in NumPy (192-d features); ships with the host, works offline and "
                    "without a framework. Not comparable with Inception FIDs.",
     "trained_on": "no training on labels: PCA filters of patches of the procedural phantoms of medigan-plugin-phantoms "
                   "(head CT, breast, brain MRI); no real patient images",
     "weights": [{"url": "package://medigan_host.evaluation/weights/pcanet-phantoms.npz", "sha256": PCANET_SHA256,
                  "filename": "pcanet-phantoms.npz"}]},
    {"name": "inception-v3-fid", "framework": "pytorch", "input_size": [299, 299], "channels": 3, "feature_dim": 2048,
     "normalization": "symmetric", "resize": "bilinear", "version": "2015.12.05", "license": "Apache-2.0",
     "description": "InceptionV3 of the reference FID implementation (TensorFlow graph 2015-12-05 as ported by "
                    "pytorch-fid), 2048-d pool3 features; with its default preprocessing numbers match pytorch-fid's.",
     "trained_on": "ImageNet (ILSVRC 2012) classification", "comparable": True,
     "citation": "Heusel et al. 2017, GANs trained by a two time-scale update rule converge to a local Nash equilibrium",
     "weights": [{"url": INCEPTION_URL, "sha256": INCEPTION_SHA256, "filename": "pt_inception-2015-12-05-6726825d.pth"}]},
    {"name": "radimagenet-resnet50", "framework": "pytorch", "input_size": [224, 224], "channels": 3, "feature_dim": 2048,
     "normalization": "radimagenet", "resize": "bilinear", "version": "1", "license": "unknown",
     "description": "ResNet50 trained on RadImageNet (torchvision-free; 2048-d global-average features). No sha256 of "
                    "its weights is published, so none is downloaded: give a state dict with torchvision key names "
                    "(e.g. RadImageNet-ResNet50_notop.pth) with --extractor-weights.",
     "trained_on": "RadImageNet: 1.35 million CT, MRI and ultrasound images, 165 classes (Mei et al. 2022)",
     "citation": "Mei et al. 2022, RadImageNet: an open radiologic deep learning research dataset, doi:10.1148/ryai.210315"},
)

LOADERS = {
    "pcanet-phantoms": "medigan_host.evaluation.pcanet:load",
    "inception-v3-fid": "medigan_host.evaluation.inception:load",
    "radimagenet-resnet50": "medigan_host.evaluation.resnet50:load",
}


@hookimpl
def medigan_register_feature_extractors(register: Callable[[dict[str, Any], str], None]) -> None:
    """Register the host's extractors (PCANet on phantoms, the FID Inception-v3, RadImageNet ResNet-50)."""
    for spec in EXTRACTORS:
        register(spec, LOADERS[spec["name"]])
