"""Stand-ins for the original medigan library's models, registered by the compatibility tests.

Each card carries what the cards of the original models carry: the upstream id, the original's metric keys
(``FID``, ``FID_RADIMAGENET``, ``FID_ratio``, ``CLF.trained_on_real_and_fake.f1``, ``turing_test.AUC``) and
its selection values (``Full-Field Mammography``, ``MMG``, licence ``BSD``) in ``extra["selection"]``. The
generators are small seeded NumPy functions that return what the original models returned when not saving
(uint8 arrays (H, W, C) in 0..255), take latents where the original took a latent vector, and declare the
original keyword arguments they understand (``options``), recording every call's options. The metric values
are fixture data.

The stand-in of 00002 takes its weights as the original did, from the model's Zenodo record (``10.5281/zenodo.6647242``,
``MALIGN_DCGAN.zip``): the tests serve a zip they build from a fake record server (``MEDIGAN_ZENODO_URL``), and the
generator reads the weights file inside it.
"""

from __future__ import annotations

from medigan_host import hookimpl, latents

PLUGIN_NAME = "original-standins"

_MMG = {"modality": ["Full-Field Mammography", "MMG"], "organ": ["breast", "breasts"]}
CARDS = [
    {"id": "standin-00001", "upstream_id": "00001_DCGAN_MMG_CALC_ROI", "name": "DCGAN calcification ROIs",
     "version": "1.0.0", "description": "Mammography calcification regions of interest.", "framework": "numpy",
     "modality": "mammography", "anatomy": "breast", "architecture": "DCGAN", "dataset": "INbreast",
     "image_size": [32, 32], "channels": 1, "license": "MIT", "tags": ["calcification"],
     "metrics": {"FID": 67.6, "FID_RADIMAGENET": 1.27, "FID_ratio": 0.28, "FID_RADIMAGENET_ratio": 0.05,
                 "CLF": {"trained_on_real_and_fake": {"f1": 0.89}}},
     "latent_size": 100, "options": ["image_size"], "selection": {**_MMG, "license": "BSD"}},
    {"id": "standin-00002", "upstream_id": "00002_DCGAN_MMG_MASS_ROI", "name": "DCGAN mass ROIs",
     "version": "1.0.0", "description": "Mammography mass regions of interest.", "framework": "numpy",
     "modality": "mammography", "anatomy": "breast", "architecture": "DCGAN", "dataset": "OPTIMAM",
     "image_size": [32, 32], "channels": 1, "license": "MIT", "tags": ["mass"],
     "metrics": {"FID": 80.51, "FID_RADIMAGENET": 6.19, "FID_ratio": 0.35, "FID_RADIMAGENET_ratio": 0.11,
                 "CLF": {"trained_on_real_and_fake": {"f1": 0.96}}, "turing_test": {"AUC": 0.56}},
     "latent_size": 200, "selection": {**_MMG, "license": "BSD"},
     "weights": [{"doi": "10.5281/zenodo.6647242", "filename": "MALIGN_DCGAN.zip"}]},
    {"id": "standin-00005", "upstream_id": "00005_DCGAN_MMG_MASS_ROI", "name": "DCGAN mass ROIs (BCDR)",
     "version": "1.0.0", "description": "Mammography masses.", "framework": "numpy", "modality": "mammography",
     "anatomy": "breast", "architecture": "DCGAN", "dataset": "BCDR", "image_size": [32, 32], "channels": 1,
     "license": "MIT", "metrics": {"FID": 180.04, "FID_RADIMAGENET": 1.67, "turing_test": {"AUC": 0.61}},
     "latent_size": 100, "selection": {"modality": ["MMG"]}},
    {"id": "standin-00008", "upstream_id": "00008_C-DCGAN_MMG_MASSES", "name": "Conditional DCGAN masses",
     "version": "1.0.0", "description": "Benign or malignant mammography masses.", "framework": "numpy",
     "modality": "mammography", "anatomy": "breast", "architecture": "cDCGAN", "dataset": "CBIS-DDSM",
     "image_size": [32, 32], "channels": 1, "license": "MIT", "conditions": {"condition": [0, 1]},
     "metrics": {"FID": 137.75}, "latent_size": 100, "options": ["z", "is_cbisddsm_training_data"],
     "selection": {"modality": ["MMG"]}},
    {"id": "standin-00009", "upstream_id": "00009_PGGAN_POLYP_PATCHES_W_MASKS", "name": "PGGAN polyps with masks",
     "version": "1.0.0", "description": "Endoscopy polyps with their segmentation masks.", "framework": "numpy",
     "modality": "endoscopy", "anatomy": "colon", "architecture": "PGGAN", "dataset": "HyperKvasir",
     "image_size": [32, 32], "channels": 3, "outputs": "image+mask", "license": "MIT",
     "metrics": {"FID": 225.85}, "latent_size": 128, "options": ["save_option", "gpu_id"]},
    {"id": "standin-00003", "upstream_id": "00003_CYCLEGAN_MMG_DENSITY_FULL", "name": "CycleGAN density",
     "version": "1.0.0", "description": "Low to high breast density.", "framework": "numpy",
     "modality": "mammography", "anatomy": "breast", "architecture": "CycleGAN", "dataset": "BCDR",
     "image_size": [32, 32], "channels": 1, "input": "image", "license": "MIT", "metrics": {"FID": 150.16},
     "options": ["translate_all_images", "gpu_id"], "selection": {"modality": ["MMG"]}},
]
IDS = [c["id"] for c in CARDS]
#: record id -> {file name: the member inside the zip that holds the weights}
RECORDS = {6647242: {"MALIGN_DCGAN.zip": "MALIGN_DCGAN/malign_mass_gen"}}


def record_files(weights: bytes = bytes(range(64)) * 16) -> dict[int, dict[str, bytes]]:
    """The records' files: zips in the original layout holding ``weights`` (what a RecordServer serves)."""
    import io
    import zipfile

    out: dict[int, dict[str, bytes]] = {}
    for record, files in RECORDS.items():
        out[record] = {}
        for name, member in files.items():
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(f"{member.split('/')[0]}/__init__.py", "")
                archive.writestr(member, weights)
            out[record][name] = buffer.getvalue()
    return out


class StandinGenerator:
    """uint8 (H, W, C) samples from seeded latents; options are recorded in ``received``."""

    def __init__(self, card, offset: float = 0.0) -> None:
        self.card = card
        self.offset = offset
        self.options = tuple(card.extra.get("options", ()))
        self.received: list = []
        if card.input == "noise":
            self.latent_shape = (int(card.extra["latent_size"]),)

    def _images(self, z, condition):
        import numpy as np

        size = int(np.prod(self.card.image_size)) * self.card.channels
        z = np.asarray(z, dtype=np.float32)
        pattern = np.tile(z, (1, -(-size // z.shape[1])))[:, :size]  # each sample from its own latent only
        pattern = pattern + self.offset + (float(next(iter(condition.values()))) if condition else 0.0)
        x = 1.0 / (1.0 + np.exp(-pattern))
        out = {"images": (x * 255).astype(np.uint8).reshape(len(z), *self.card.image_size, self.card.channels)}
        if self.card.has_masks:
            out["masks"] = (out["images"][..., :1] > 160).astype(np.uint8)
        return out

    def generate(self, seeds, *, condition=None, inputs=None, options=None):
        import numpy as np

        self.received.append(dict(options or {}))
        if inputs is not None:
            return {"images": np.stack([255 - np.asarray(x, dtype=np.uint8) for x in inputs])}
        return self._images(latents(seeds, self.latent_shape), condition)

    def generate_from_latents(self, z, *, condition=None):
        return self._images(z, condition)


def load(card, device):
    if not card.weights:
        return StandinGenerator(card)
    import zipfile

    from medigan_host import fetch_weights

    entry = card.weights[0]
    member = RECORDS[int(entry["doi"].rsplit(".", 1)[1])][entry["filename"]]
    with zipfile.ZipFile(fetch_weights(card)) as archive:
        weights = archive.read(member)
    return StandinGenerator(card, offset=weights[1] / 255.0)


@hookimpl
def medigan_register_models(register):
    for card in CARDS:
        register(card, load)
