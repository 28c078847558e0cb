"""The DCGAN mammography plugin: the one-command flow from a (fake) Zenodo record, pixels as the originals made them,
cards, conversion of original-format checkpoints, safe loading, the per-seed contract."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from medigan_plugin_dcgan_mammo import convert, plugin  # noqa: E402
from medigan_plugin_dcgan_mammo.specs import WEIGHTS_FILE, GeneratorSpec  # noqa: E402

import medigan_host  # noqa: E402
from medigan_host import FrameworkMissingError, ModelCard, WeightsError, hookimpl  # noqa: E402
from medigan_host.devkit.weights_server import RecordServer, WeightsServer  # noqa: E402
from medigan_host.weights import model_folder, place_weights  # noqa: E402

CALC, OPTIMAM, BCDR, WGANGP, CBIS, CBCDR = (card["id"] for card in plugin.CARDS)
#: Each original model: its number, Zenodo record, zip, the package folder and weights file inside it (from the
#: original config), the checkpoint's layout, and the pixel mapping of its generate function.
ORIGINALS = {
    CALC: (1, 7031735, "00001_DCGAN_MMG_CALC_ROI.zip", "00001_DCGAN_MMG_CALC_ROI/DCGAN.pt", "gan-compare", "v1"),
    OPTIMAM: (2, 6647242, "MALIGN_DCGAN.zip", "MALIGN_DCGAN/malign_mass_gen", "alyafi", "alyafi"),
    BCDR: (5, 7031758, "00005_DCGAN_MMG_MASS_ROI.zip", "00005_DCGAN_MMG_MASS_ROI/500.pt", "gan-compare", "template"),
    WGANGP: (6, 7031763, "00006_WGANGP_MMG_MASS_ROI.zip", "00006_WGANGP_MMG_MASS_ROI/10000.pt", "gan-compare", "template"),
    CBIS: (8, 7382545, "00008_C-DCGAN_MMG_MASSES.zip", "00008_C-DCGAN_MMG_MASSES/1400_ckpt_train_cbis_ddsm.pt",
           "conditional", "template"),
    CBCDR: (12, 7031755, "00012_C-DCGAN_MMG_MASSES.zip", "00012_C-DCGAN_MMG_MASSES/1250.pt", "conditional", "template"),
}


class Original(torch.nn.Module):
    """A generator written to the original architecture, independently of the plugin: one nn.Sequential named
    ``main`` (the BCN-AIM gan-compare generators) or ``model`` (Alyafi's) of ConvTranspose2d/BatchNorm2d/activation
    triples, then ConvTranspose2d + Tanh. The gan-compare ones also hold ``first_layers`` (sharing main's first two
    blocks) and ``embed_nn``: Linear(1, nz) + LeakyReLU(0.1) for the conditional ones, whose embedded label is
    concatenated to the latent; Linear(1, nz) + BatchNorm1d + LeakyReLU, unused, for the others."""

    def __init__(self, spec: GeneratorSpec, layout: str, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.layout, self.nz = layout, spec.latent_dim
        layers, previous = [], spec.latent_dim * (2 if layout == "conditional" else 1)
        for i, width in enumerate(spec.widths):
            layers += [torch.nn.ConvTranspose2d(previous, width, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                       torch.nn.BatchNorm2d(width),
                       torch.nn.ReLU(True) if spec.activation == "relu" else torch.nn.LeakyReLU(spec.negative_slope, True)]
            previous = width
        layers += [torch.nn.ConvTranspose2d(previous, 1, 4, 2, 1, bias=False), torch.nn.Tanh()]
        if layout == "alyafi":
            self.model = torch.nn.Sequential(*layers)
        else:
            self.first_layers = torch.nn.Sequential(*layers[:6])
            self.main = torch.nn.Sequential(*self.first_layers.children(), *layers[6:])
            if layout == "conditional":
                self.embed_nn = torch.nn.Sequential(torch.nn.Linear(1, self.nz), torch.nn.LeakyReLU(0.1, inplace=True))
            else:
                self.embed_nn = torch.nn.Sequential(torch.nn.Linear(1, self.nz), torch.nn.BatchNorm1d(self.nz),
                                                    torch.nn.LeakyReLU(0.1, inplace=True))
        for module in self.modules():  # trained-looking BatchNorm statistics, so eval mode matters
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.data.normal_(1.0, 0.1)
                module.bias.data.normal_(0, 0.1)
        self.eval()

    def forward(self, z, conditions=None):
        x = z.reshape(len(z), self.nz, 1, 1)
        if self.layout == "alyafi":
            return self.model(x)
        if self.layout == "conditional":
            embedded = self.embed_nn(conditions.view(conditions.size(0), -1).float())
            x = torch.cat([x, embedded.view(-1, self.nz, 1, 1)], 1)
        return self.main(x)


def original_pixels(output: np.ndarray, mapping: str) -> np.ndarray:
    """The originals' own mappings of a (N, 1, H, W) float32 output to uint8 pixels, channels last."""
    images = output.transpose(0, 2, 3, 1)
    if mapping == "alyafi":  # run_generator: rescale [-1, 1] to [0, 1], then 255 * img, rounded
        img = torch.from_numpy(images) / 2 + 0.5
        return (255 * img).numpy().round().astype(np.uint8)
    low, high = (-1.0, 0.0) if mapping == "template" else (-1.0, 1.0)  # interval_mapping(img, low, high, 0, 255)
    scaled = np.array((images - low) / float(high - low), dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        return (0 + scaled * 255).astype("uint8")


def spec_of(model_id: str) -> GeneratorSpec:
    return GeneratorSpec.from_card(medigan_host.get_card(model_id))


def original_zip(folder: Path, model_id: str, network: Original) -> bytes:
    """The model's record zip as the original config lays it out: the package folder with __init__.py and weights."""
    _, _, zip_name, member, layout, _ = ORIGINALS[model_id]
    buffer = folder / member.replace("/", "__")
    if layout == "alyafi":  # a bare state dict in PyTorch's legacy (pre-1.6) format
        torch.save(network.state_dict(), buffer, _use_new_zipfile_serialization=False)
    else:  # a training checkpoint: generator, discriminator, optimisers
        torch.save({"generator": network.state_dict(), "discriminator": {"main.0.weight": torch.randn(64, 1, 4, 4)},
                    "optim_generator": torch.optim.Adam(network.parameters(), lr=2e-4, betas=(0.5, 0.999)).state_dict(),
                    "optim_discriminator": {"state": {}, "param_groups": []}}, buffer)
    archive = folder / zip_name
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(buffer, member)
        zf.writestr(f"{member.split('/')[0]}/__init__.py", "def generate(model_file, num_samples, output_path, save_images): ...\n")
    return archive.read_bytes()


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Each model's randomly initialised original network and its record zip."""
    folder = tmp_path_factory.mktemp("originals")
    out = {}
    for i, (model_id, (_, _, _, _, layout, _)) in enumerate(ORIGINALS.items()):
        network = Original(spec_of(model_id), layout, seed=100 + i)
        out[model_id] = (network, original_zip(folder, model_id, network))
    return out


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("MEDIGAN_OFFLINE", "MEDIGAN_ZENODO_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def zenodo(originals, cache, monkeypatch):
    """A fake Zenodo serving every model's record zip; MEDIGAN_ZENODO_URL points at it."""
    records = {ORIGINALS[m][1]: {ORIGINALS[m][2]: data} for m, (_, data) in originals.items()}
    with RecordServer(records) as server:
        monkeypatch.setenv("MEDIGAN_ZENODO_URL", server.base_url)
        yield server


def zip_file(tmp_path: Path, originals, model_id: str) -> Path:
    path = tmp_path / ORIGINALS[model_id][2]
    path.write_bytes(originals[model_id][1])
    return path


def reference(originals, model_id: str, seeds: list[int], labels: list[int] | None = None) -> np.ndarray:
    """What the original generate function makes of the same latents (and class labels)."""
    network = originals[model_id][0]
    z = torch.from_numpy(medigan_host.latents(seeds, spec_of(model_id).latent_dim)).reshape(len(seeds), -1, 1, 1)
    with torch.no_grad():
        output = network(z, None if labels is None else torch.tensor(labels, dtype=torch.float32)).numpy()
    return original_pixels(output, ORIGINALS[model_id][5])


# -- cards -------------------------------------------------------------------------------------------------
def test_cards_carry_records_upstream_ids_and_every_published_metric():
    plugins = {p.name: p for p in medigan_host.list_plugins()}
    assert plugins["dcgan-mammo"].status == "ok" and plugins["dcgan-mammo"].models == list(ORIGINALS)
    published = {CALC: (67.60, 0.497, 1.27, 0.197, 1000), OPTIMAM: (80.51, 0.358, 6.19, 0.036, 1000),
                 BCDR: (180.04, 0.379, 1.67, 0.593, 199), WGANGP: (221.30, 0.308, 1.80, 0.550, 199),
                 CBIS: (137.75, 0.272, 3.05, 0.151, 379), CBCDR: (205.29, 0.332, 5.69, 0.080, 199)}
    for model_id, (number, record, zip_name, member, _, _) in ORIGINALS.items():
        card = medigan_host.get_card(number)
        assert card.id == model_id and card.upstream_id.startswith(f"{number:05d}_")
        assert medigan_host.get_card(card.upstream_id).id == model_id
        assert card.weights == ({"doi": f"10.5281/zenodo.{record}", "filename": zip_name},)
        assert card.extra["upstream_weights"]["member"] == member
        assert card.dataset and card.citation and card.license == "MIT"
        fid, fid_ratio, fid_rad, fid_rad_ratio, n = published[model_id]
        assert card.metric("fid")["value"] == fid and card.metric("fid")["n"] == n
        assert card.metric("fid")["extractor"] == "inception-v3-imagenet"
        assert card.metric("FID_RadImageNet")["value"] == fid_rad
        assert card.metric("fid_radimagenet")["extractor"] == "radimagenet-resnet50"
        assert card.metrics["fid_ratio"] == fid_ratio and card.metrics["fid_radimagenet_ratio"] == fid_rad_ratio
        assert spec_of(model_id).image_size == 128
    assert medigan_host.get_card(2).metrics["turing_test"]["radiologist_2"] == {"accuracy": 0.61, "auc": 0.45,
                                                                                "years_experience": 25}
    assert medigan_host.get_card(6).metrics["clf"]["trained_on_real_and_fake"] == {"f1": 0.969, "auc": 0.978, "auprc": 0.996}
    assert medigan_host.get_card(6).metrics["clf_delta"] == 0.078
    for number in (8, 12):
        assert medigan_host.get_card(number).conditions == {"malignancy": ("malignant", "benign")}


def test_listing_and_info_import_no_torch_and_need_no_weights(tmp_path):
    probe = ("import sys, json; from medigan_host.cli import main\n"
             "for args in (['list'], ['info', '6', '--json']):\n"
             "    try: main(args)\n"
             "    except SystemExit as e: assert e.code in (0, None), (args, e.code)\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'safetensors'))))")
    env = {**os.environ, "MEDIGAN_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert "00006_WGANGP_MMG_MASS_ROI" in result.stdout and "fid_radimagenet_ratio" in result.stdout


# -- one command -------------------------------------------------------------------------------------------------
def test_one_command_downloads_verifies_converts_and_generates(originals, zenodo, cache, tmp_path):
    env = {**os.environ, "MEDIGAN_CACHE_DIR": str(cache), "MEDIGAN_ZENODO_URL": zenodo.base_url}
    env.pop("MEDIGAN_OFFLINE", None)
    result = subprocess.run([sys.executable, "-m", "medigan_host", "generate", "00001", "-n", "10", "-o",
                             str(tmp_path / "out"), "--seed", "3"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    pngs = sorted((tmp_path / "out" / "images").glob("*.png"))
    assert len(pngs) == 10
    folder = cache / CALC / "1.0.0"
    assert sorted(p.name for p in folder.iterdir()) == sorted([".medigan-entry", ORIGINALS[CALC][2], f"{ORIGINALS[CALC][2]}.sha256",
                                                               WEIGHTS_FILE, f"{WEIGHTS_FILE}.sha256"])
    record, zip_name = ORIGINALS[CALC][1], ORIGINALS[CALC][2]
    assert zenodo.requests == [f"/api/records/{record}", f"/api/records/{record}/files/{zip_name}/content"]
    from PIL import Image

    run = medigan_host.generate(CALC, 10, tmp_path / "api", seed=3, device="cpu")  # the same run, in-process
    assert run.generated == 10 and len(zenodo.requests) == 2, "converted once; later runs need no network"
    for png in pngs:
        assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(tmp_path / "api" / "images" / png.name)))


@pytest.mark.parametrize("model_id", list(ORIGINALS))
def test_outputs_equal_the_original_mapping_of_the_same_network(originals, zenodo, cache, model_id):
    model = medigan_host.load_model(ORIGINALS[model_id][0], device="cpu")
    seeds = [3, 1, 4, 1, 5]
    if ORIGINALS[model_id][4] == "conditional":
        for value, label in (("malignant", 0), ("benign", 1)):
            got = model.generate(seeds, condition={"malignancy": value}).images
            assert np.array_equal(got, reference(originals, model_id, seeds, [label] * len(seeds)))
        drawn = model.generate(seeds).images  # no condition: each seed draws its class
        labels = [0 if np.array_equal(drawn[i], reference(originals, model_id, [s], [0])[0]) else 1
                  for i, s in enumerate(seeds)]
        assert np.array_equal(drawn, reference(originals, model_id, seeds, labels))
    else:
        got = model.generate(seeds).images
        assert np.array_equal(got, reference(originals, model_id, seeds))
    assert got.shape == (5, 128, 128, 1) and got.dtype == np.uint8 and got.std() > 1
    assert not model.generator.network.training
    assert all(not p.requires_grad for p in model.generator.network.parameters())


def test_pixels_differ_from_a_plain_rescale_where_the_original_did(originals, zenodo, cache):
    """00005's original maps [-1, 0] (not [-1, 1]) onto 0..255: a plain rescale is off by about 100 grey levels."""
    images = medigan_host.load_model(5, device="cpu").generate([1, 2, 3]).images.astype(float)
    network = originals[BCDR][0]
    z = torch.from_numpy(medigan_host.latents([1, 2, 3], 100)).reshape(3, -1, 1, 1)
    with torch.no_grad():
        plain = ((network(z) + 1) / 2 * 255).permute(0, 2, 3, 1).numpy()
    assert np.abs(images - plain).mean() > 50


def test_tampered_zip_is_refused_and_deleted(originals, zenodo, cache):
    record, zip_name = ORIGINALS[BCDR][1], ORIGINALS[BCDR][2]
    data = bytearray(originals[BCDR][1])
    data[len(data) // 2] ^= 0xFF
    zenodo.files[zenodo.file_path(record, zip_name)] = bytes(data)
    with pytest.raises(WeightsError) as info:
        medigan_host.load_model(BCDR, device="cpu")
    message = str(info.value)
    assert f"record {record}" in message and zip_name in message and "deleted" in message
    assert hashlib.md5(originals[BCDR][1]).hexdigest() in message and hashlib.md5(bytes(data)).hexdigest() in message
    assert not (cache / BCDR).exists() or [p.name for p in (cache / BCDR / "1.0.0").iterdir()] == [".medigan-entry"]


def test_offline_with_an_empty_cache_explains(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        medigan_host.load_model(WGANGP, device="cpu")
    message = str(info.value)
    for words in ("MEDIGAN_OFFLINE", "record 7031763", "'00006_WGANGP_MMG_MASS_ROI.zip'",
                  "https://doi.org/10.5281/zenodo.7031763", f"medigan cache place {WGANGP} FILE",
                  str(cache / WGANGP / "1.0.0")):
        assert words in message, words
    from click.testing import CliRunner

    from medigan_host.cli import cli

    result = CliRunner().invoke(cli, ["generate", "6", "-n", "2", "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and "medigan cache place" in result.output and "Traceback" not in result.output
    assert not list((tmp_path / "out").rglob("*.png"))


def test_a_placed_zip_is_used(originals, cache, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    card = medigan_host.get_card(CBCDR)
    archive = zip_file(tmp_path, originals, CBCDR)
    with pytest.raises(WeightsError, match="--unverified"):  # offline, the record cannot vouch for it
        place_weights(card, archive)
    assert not (model_folder(card).exists() and any(model_folder(card).rglob("*.zip")))  # nothing placed
    place_weights(card, archive, unverified=True)  # on the user's word: the runs say so
    got = medigan_host.load_model(12, device="cpu").generate([9, 8], condition={"malignancy": "benign"}).images
    assert np.array_equal(got, reference(originals, CBCDR, [9, 8], [1, 1]))
    run = medigan_host.generate(12, 2, tmp_path / "run", seed=1, condition={"malignancy": "benign"})
    assert run.generated == 2
    assert json.loads((tmp_path / "run" / "run.json").read_text())["unverified_weights"]


# -- conversion by hand ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_id", [CALC, OPTIMAM])
def test_a_hand_converted_original_reproduces_the_original(originals, cache, tmp_path, monkeypatch, model_id):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    path, digest, size = convert.convert(model_id, zip_file(tmp_path, originals, model_id))
    assert path == cache / model_id / "1.0.0" / WEIGHTS_FILE and path.stat().st_size == size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert (path.parent / f"{WEIGHTS_FILE}.sha256").read_text().split()[0] == digest
    seeds = [3, 1, 4]
    assert np.array_equal(medigan_host.load_model(model_id, device="cpu").generate(seeds).images,
                          reference(originals, model_id, seeds))


def test_conversion_is_deterministic_and_can_write_elsewhere(originals, cache, tmp_path):
    archive = zip_file(tmp_path, originals, CALC)
    first = convert.convert("00001_DCGAN_MMG_CALC_ROI", archive, tmp_path / "a.safetensors")
    second = convert.convert(1, archive, tmp_path / "b.safetensors")
    assert first[1] == second[1] and (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    with zipfile.ZipFile(archive) as zf:  # the .pt inside the zip converts to the very same file
        (tmp_path / "DCGAN.pt").write_bytes(zf.read("00001_DCGAN_MMG_CALC_ROI/DCGAN.pt"))
    assert convert.convert(1, tmp_path / "DCGAN.pt", tmp_path / "c.safetensors")[1] == first[1]
    assert not cache.exists(), "--output writes only where it is told"


def test_convert_command_line(originals, cache, tmp_path):
    archive = zip_file(tmp_path, originals, OPTIMAM)
    env = {**os.environ, "MEDIGAN_CACHE_DIR": str(cache)}
    result = subprocess.run([sys.executable, "-m", "medigan_plugin_dcgan_mammo.convert", "2", str(archive)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256((cache / OPTIMAM / "1.0.0" / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert f"sha256 {digest}" in result.stdout
    listing = subprocess.run([sys.executable, "-m", "medigan_host", "cache", "list", "--json"], capture_output=True,
                             text=True, env=env, timeout=120)
    (entry,) = json.loads(listing.stdout)["files"]
    assert (entry["model"], entry["name"], entry["state"]) == (OPTIMAM, WEIGHTS_FILE, "local")


def test_convert_exit_statuses(originals, cache, capsys, tmp_path):
    archive = zip_file(tmp_path, originals, OPTIMAM)
    assert convert.main(["1", str(archive)]) == 2  # the zip of 00002 holds no DCGAN.pt: a usage error
    assert "holds 0 files named '00001_DCGAN_MMG_CALC_ROI/DCGAN.pt'" in capsys.readouterr().err
    assert convert.main(["99", str(archive)]) == 2 and "unknown model '99'" in capsys.readouterr().err
    assert convert.main(["2", str(archive.parent / "missing.zip")]) == 2 and "is not a file" in capsys.readouterr().err
    assert convert.main(["2", str(archive), "--output", str(archive.parent / "no" / "dir" / "x")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_checkpoint_of_another_model_is_refused(originals, cache, tmp_path):
    archive = zip_file(tmp_path, originals, OPTIMAM)
    with pytest.raises(medigan_host.MediganUsageError, match="holds 0 files named '00001_DCGAN_MMG_CALC_ROI/DCGAN.pt'"):
        convert.convert(CALC, archive)
    with zipfile.ZipFile(archive) as zf:
        raw = zf.read("MALIGN_DCGAN/malign_mass_gen")
    alone = tmp_path / "malign_mass_gen"
    alone.write_bytes(raw)
    with pytest.raises(WeightsError, match=r"does not fit model 'dcgan-mammo-calc-inbreast'.*is \(200, 450, 4, 4\)"):
        convert.convert(CALC, alone)
    with zipfile.ZipFile(zip_file(tmp_path, originals, CBIS)) as zf:  # a conditional generator is not 00005's
        (tmp_path / "cond.pt").write_bytes(zf.read(ORIGINALS[CBIS][3]))
    with pytest.raises(WeightsError, match="is not a medigan DCGAN generator|does not fit"):
        convert.convert(BCDR, tmp_path / "cond.pt")
    assert not (cache / CALC).exists() and not (cache / BCDR).exists()


# -- safe loading ----------------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this creates a marker file: proof that code inside a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_checkpoint_is_refused_without_running_code(cache, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "DCGAN.pt"
    torch.save({"generator": _Payload(marker)}, evil)
    with pytest.raises(WeightsError, match="refused to load .*weights_only=True.*never runs code"):
        convert.convert(CALC, evil)
    assert not marker.exists() and not (cache / CALC).exists()


def test_pickle_planted_as_weights_is_refused_without_running_code(originals, cache, tmp_path):
    path, _, _ = convert.convert(CALC, zip_file(tmp_path, originals, CALC))
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save(_Payload(marker), evil)
    path.write_bytes(evil.read_bytes())  # an attacker who also rewrites the sha256 record:
    (path.parent / f"{WEIGHTS_FILE}.sha256").write_text(f"{hashlib.sha256(evil.read_bytes()).hexdigest()}  {WEIGHTS_FILE}\n")
    with pytest.raises(WeightsError, match="not a valid safetensors file.*never unpickles"):
        medigan_host.load_model(CALC, device="cpu")
    assert not marker.exists()


def test_tampered_converted_weights_are_deleted_and_made_again(originals, zenodo, cache):
    medigan_host.load_model(CALC, device="cpu")
    path = cache / CALC / "1.0.0" / WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="so it was deleted"):
        medigan_host.load_model(CALC, device="cpu")
    assert not path.exists()
    again = medigan_host.load_model(CALC, device="cpu").generate([1]).images  # converted again from the cached zip
    assert np.array_equal(again, reference(originals, CALC, [1])) and len(zenodo.requests) == 2


# -- weights from a card url -----------------------------------------------------------------------------------
class _Published:
    """The 00005 card as it would read with converted weights published under a url with their sha256."""

    def __init__(self, url: str, digest: str, size: int) -> None:
        base = next(c for c in plugin.CARDS if c["id"] == BCDR)
        self.card = {**base, "id": "dcgan-mammo-published", "upstream_id": None,
                     "weights": {"url": url, "sha256": digest, "size": size}}

    @hookimpl
    def medigan_register_models(self, register):
        register(self.card, plugin.LOADER)


def test_converted_weights_published_under_a_url(originals, cache, tmp_path):
    _, digest, size = convert.convert(BCDR, zip_file(tmp_path, originals, BCDR), tmp_path / "published.safetensors")
    data = (tmp_path / "published.safetensors").read_bytes()
    with WeightsServer({"/g.safetensors": data}) as server:
        medigan_host.register_plugin(_Published(server.url("/g.safetensors"), digest, size), name="published")
        model = medigan_host.load_model("dcgan-mammo-published", device="cpu")
        assert np.array_equal(model.generate([7, 8]).images, reference(originals, BCDR, [7, 8]))
        assert server.requests == ["/g.safetensors"]
        server.files["/g.safetensors"] = data[:-1] + b"\0"
        cached = model_folder(ModelCard.from_dict(_Published("https://x/g.safetensors", digest, size).card))
        (cached / "g.safetensors").unlink()
        with pytest.raises(WeightsError, match="truncated, corrupted or replaced, so it was deleted"):
            medigan_host.load_model("dcgan-mammo-published", device="cpu")
        assert [p.name for p in cached.iterdir()] == [".medigan-entry"], "nothing kept but medigan's own marker"


# -- the contract --------------------------------------------------------------------------------------------
def test_samples_depend_only_on_their_seed(originals, zenodo, cache, tmp_path):
    for model_id in (CALC, CBIS):
        batches = {size: list(medigan_host.generate(model_id, 4, seed=21, batch_size=size, device="cpu"))
                   for size in (1, 3)}
        images = {size: np.concatenate([b.images for b in got]) for size, got in batches.items()}
        assert np.array_equal(images[1], images[3])  # bitwise on CPU
        model = medigan_host.load_model(model_id, device="cpu")
        seeds = [s for b in batches[3] for s in b.seeds]
        assert np.array_equal(model.generate(seeds[::-1]).images, images[3][::-1])
        assert not np.array_equal(images[3][0], images[3][1])
    run = medigan_host.generate(CBIS, 2, tmp_path / "run", seed=21, device="cpu", condition={"malignancy": "benign"})
    assert run.generated == 2 and len(list((tmp_path / "run" / "images").glob("*.png"))) == 2


def test_interleaved_with_other_plugins_in_one_process(originals, zenodo, cache):
    alone = {m: medigan_host.load_model(m, device="cpu").generate([1, 2]).images for m in (CALC, OPTIMAM)}
    phantom_alone = medigan_host.load_model("mammo-breast-phantom").generate([1, 2]).images
    models = {m: medigan_host.load_model(m, device="cpu") for m in (OPTIMAM, "mammo-breast-phantom", CALC)}
    for _ in range(2):
        for model_id in (CALC, "mammo-breast-phantom", OPTIMAM):
            got = models[model_id].generate([1, 2]).images
            assert np.array_equal(got, phantom_alone if model_id == "mammo-breast-phantom" else alone[model_id])


def test_missing_torch_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(FrameworkMissingError, match="pip install torch"):
        medigan_host.load_model(OPTIMAM)


def test_missing_safetensors_names_the_pip_command(monkeypatch, originals, cache, tmp_path):
    convert.convert(CALC, zip_file(tmp_path, originals, CALC))
    for name in [m for m in sys.modules if m == "safetensors" or m.startswith("safetensors.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(FrameworkMissingError, match="pip install safetensors"):
        medigan_host.load_model(CALC, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_runs_on_the_gpu(originals, zenodo, cache):
    seeds = list(range(8))
    cpu = medigan_host.load_model(CALC, device="cpu").generate(seeds).images.astype(int)
    for device in ("auto", "cuda", "cuda:0"):
        model = medigan_host.load_model(CALC, device=device)
        assert model.device.startswith("cuda") and next(model.generator.network.parameters()).is_cuda
        assert np.abs(model.generate(seeds).images.astype(int) - cpu).max() <= 1
    gpu = medigan_host.load_model(CALC, device="cuda")
    assert np.array_equal(np.concatenate([gpu.generate(seeds[:3]).images, gpu.generate(seeds[3:]).images]),
                          gpu.generate(seeds).images)
