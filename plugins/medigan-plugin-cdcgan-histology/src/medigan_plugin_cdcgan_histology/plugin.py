"""Registers the conditional histology GAN with medigan. Imports nothing heavy: TensorFlow loads on first use."""

from __future__ import annotations

from medigan_host import hookimpl

MODEL_ID = "cdcgan-histology-ihc"
WEIGHTS_FILE = "cdcgan-histology-ihc.keras"
WEIGHTS_SHA256 = "c252782ac54b17f454be34a3f9de1170cbc00aab1612cc00166e4fbc99a7daa0"
WEIGHTS_SIZE = 4136204

CARD = {
    "id": MODEL_ID,
    "name": "Class-conditional DCGAN: IHC colon histology patches, DAB-positive or DAB-negative",
    "version": "0.1.0",
    "description": (
        "64x64 RGB patches of immunohistochemically stained colonic tissue (FHL2 revealed with DAB, haematoxylin "
        "counterstain), generated for the requested class: dab=positive gives brown-stained glandular epithelium, "
        "dab=negative gives blue, unstained stroma and background. Trained here, on CPU, on patches of one real "
        "512x512 IHC image shipped with scikit-image, labelled by colour deconvolution; a small "
        "demonstration of class-conditional generation in TensorFlow/Keras, not a model of colon pathology at large."
    ),
    "framework": "tensorflow",
    "modality": "histology",
    "anatomy": "colon",
    "architecture": (
        "class-conditional DCGAN (Keras 3): generator z(64) + label embedding(16) -> dense 4x4x256 -> 3 x [4x4 "
        "transposed conv stride 2, group norm, ReLU] (128, 64, 32 channels) -> 4x4 transposed conv to 3 channels, "
        "tanh; discriminator: DCGAN (32-256 channels, batch norm, leaky ReLU) with a class projection "
        "(Miyato & Koyama 2018); non-saturating loss, weight average (EMA) of the generator shipped"
    ),
    "dataset": (
        "scikit-image data/ihc.png (sha256 f8dd1aa3…cef): 512x512 RGB, colonic glands, FHL2 IHC with DAB and "
        "haematoxylin, acquired at the Center for Microscopy And Molecular Imaging (CMMI); 'no known copyright "
        "restrictions'. Rows 288-511 x columns 224-415 held out for evaluation."
    ),
    "license": "MIT",
    "image_size": [64, 64],
    "channels": 3,
    "outputs": "image",
    "input": "noise",
    "conditions": {"dab": ["negative", "positive"]},
    "citation": (
        "Mirza M, Osindero S. Conditional Generative Adversarial Nets. arXiv:1411.1784, 2014. "
        "Radford A, Metz L, Chintala S. Unsupervised Representation Learning with Deep Convolutional Generative "
        "Adversarial Networks. arXiv:1511.06434, 2016. Labels: Ruifrok AC, Johnston DA. Quantification of "
        "histochemical staining by color deconvolution. Anal Quant Cytol Histol 23(4), 2001."
    ),
    "doi": "10.48550/arXiv.1411.1784",
    # training/evaluate.py --n 500 --seed 2024: generated patches through medigan vs the held-out real patches.
    "metrics": {
        "condition_accuracy": {"value": 1.0, "n": 1000, "reference": "labelling rule at 30% DAB-positive area",
                               "extractor": "colour deconvolution (stain.py)"},
        "dab_positive_area": {
            "negative": {"value": 0.0117, "n": 500, "reference": 0.0721, "reference_n": 477,
                         "training": 0.024, "training_n": 3000},
            "positive": {"value": 0.8677, "n": 500, "reference": 0.6686, "reference_n": 10408,
                         "training": 0.7649, "training_n": 3000},
        },
        "colour_mean_abs_diff": {
            "negative": {"value": 9.43, "n": 500, "reference": "mean RGB (0-255) of the held-out real patches"},
            "positive": {"value": 16.16, "n": 500, "reference": "mean RGB (0-255) of the held-out real patches"},
        },
    },
    "tags": ["histology", "immunohistochemistry", "dab", "colon", "conditional", "gan", "dcgan", "keras", "trained-here"],
    # Shipped inside this package; medigan_host.fetch_weights verifies its sha256 on every load.
    "weights": {"url": f"package://medigan_plugin_cdcgan_histology/weights/{WEIGHTS_FILE}", "sha256": WEIGHTS_SHA256,
                "size": WEIGHTS_SIZE, "filename": WEIGHTS_FILE},
    "data_license": "scikit-image data/ihc.png: no known copyright restrictions (scikit-image's data notes)",
    "data_choice": (
        "Real tissue with a clear licence that ships inside a registry package, so training is reproducible "
        "offline; its classes (DAB-stained or not) mean something to a pathologist and are measured per pixel by "
        "colour deconvolution, so the condition can be checked without a trained classifier. A model of a "
        "procedural phantom would only relearn a formula the phantoms plugin computes exactly."
    ),
    "labelling": {
        "rule": "colour deconvolution (Ruifrok & Johnston; scikit-image's H-E-DAB vectors), DAB density > threshold "
                "per pixel; a patch is positive when >= 50 % of its pixels are, negative when <= 10 % are, "
                "unused otherwise",
        "dab_threshold": 0.062151,
        "threshold_method": "Otsu over the training region",
    },
    "training": {
        "script": "training/train.py (in the plugin's source tree) --seed 0 --steps 4000 --batch 16 --threads 2",
        "steps": 4000,
        "batch": "16: 8 positive and 8 negative patches",
        "augmentation": "random 64x64 crops of the training region, random quarter turns and mirroring",
        "loss": "non-saturating GAN loss; projection discriminator",
        "optimiser": "Adam lr 2e-4, betas (0.5, 0.999), generator and discriminator",
        "ema": "exponential moving average of the generator weights, decay min(0.999, (1 + step) / (10 + step)); "
               "the average is what ships",
        "wall_minutes": 22.8,
        "machine": "2-core x86-64 CPU shared with other jobs, TensorFlow 2.21.0 (oneDNN off), Keras 3.15.1",
        "weights_h5_sha256": "f4da64ea2377fee3c5a71b23b39bced1de4ce6ddee560c80fc7c178250e53fe6",
    },
    "limitations": (
        "Coarse: 4000 CPU steps give the colour and layout of stained epithelium versus unstained stroma and nuclei "
        "as soft blobs, not sharp cellular detail. The classes are a little exaggerated: generated negatives carry "
        "less DAB and positives more than the real patches (see dab_positive_area). One image of one specimen."
    ),
}


@hookimpl
def medigan_register_models(register):
    register(CARD, "medigan_plugin_cdcgan_histology.generator:load")
