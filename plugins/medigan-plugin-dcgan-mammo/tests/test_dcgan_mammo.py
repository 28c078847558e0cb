"""The DCGAN mammography plugin: cards, conversion of upstream-format checkpoints, safe loading, the per-seed contract."""

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
from medigan_host.weights import model_folder  # noqa: E402
from medigan_host.weights_server import WeightsServer  # noqa: E402

CALC, OPTIMAM, BCDR = (card["id"] for card in plugin.CARDS)


class UpstreamStyle(torch.nn.Module):
    """An upstream-layout generator, written independently of the plugin: one nn.Sequential named ``main``
    (00001/00005) or ``model`` (00002) of ConvTranspose2d/BatchNorm2d/activation triples, then ConvTranspose2d + Tanh."""

    def __init__(self, spec: GeneratorSpec, name: str) -> None:
        super().__init__()
        layers, previous = [], spec.latent_dim
        for i, width in enumerate(spec.widths):
            layers += [torch.nn.ConvTranspose2d(previous, width, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                       torch.nn.BatchNorm2d(width),
                       torch.nn.ReLU(True) if spec.activation == "relu" else torch.nn.LeakyReLU(spec.negative_slope, True)]
            previous = width
        layers += [torch.nn.ConvTranspose2d(previous, 1, 4, 2, 1, bias=False), torch.nn.Tanh()]
        self.name = name
        setattr(self, name, torch.nn.Sequential(*layers))
        torch.manual_seed(hash(name) % 1000)
        for module in self.modules():  # trained-looking BatchNorm statistics, so eval mode matters
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.data.normal_(1.0, 0.1)
                module.bias.data.normal_(0, 0.1)
        self.eval()

    def forward(self, z):
        return getattr(self, self.name)(z.reshape(len(z), -1, 1, 1))


def spec_of(model_id: str) -> GeneratorSpec:
    return GeneratorSpec.from_card(medigan_host.get_card(model_id))


def gan_compare_zip(folder: Path, reference: UpstreamStyle) -> Path:
    """The medigan zip of 00001: dcgan.pt holds a training checkpoint (generator, discriminator, optimisers)."""
    checkpoint = {"generator": reference.state_dict(),
                  "discriminator": {"main.0.weight": torch.randn(64, 1, 4, 4)},
                  "optim_generator": torch.optim.Adam(reference.parameters(), lr=2e-4, betas=(0.5, 0.999)).state_dict(),
                  "optim_discriminator": {"state": {}, "param_groups": []}}
    pt = folder / "dcgan.pt"
    torch.save(checkpoint, pt)
    archive = folder / "00001_DCGAN_MMG_CALC_ROI.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(pt, "00001_DCGAN_MMG_CALC_ROI/dcgan.pt")
        zf.writestr("00001_DCGAN_MMG_CALC_ROI/__init__.py", "def generate(model_file, num_samples, output_path, save_images): ...\n")
    return archive


def alyafi_zip(folder: Path, reference: UpstreamStyle) -> Path:
    """The medigan zip of 00002: malign_mass_gen is a bare state dict in PyTorch's legacy (pre-1.6) format."""
    member = folder / "malign_mass_gen"
    torch.save(reference.state_dict(), member, _use_new_zipfile_serialization=False)
    archive = folder / "MALIGN_DCGAN.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(member, "MALIGN_DCGAN/malign_mass_gen")
        zf.writestr("MALIGN_DCGAN/__init__.py", "# upstream generate()\n")
    return archive


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """Upstream-format checkpoints of randomly initialised generators, and the generators themselves."""
    folder = tmp_path_factory.mktemp("upstream")
    calc, optimam = UpstreamStyle(spec_of(CALC), "main"), UpstreamStyle(spec_of(OPTIMAM), "model")
    return {"calc": (calc, gan_compare_zip(folder, calc)), "optimam": (optimam, alyafi_zip(folder, optimam))}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEDIGAN_OFFLINE", raising=False)
    return tmp_path / "cache"


def reference_images(reference: UpstreamStyle, model_id: str, seeds: list[int]) -> np.ndarray:
    z = torch.from_numpy(medigan_host.latents(seeds, spec_of(model_id).latent_dim))
    with torch.no_grad():
        return ((reference(z) + 1) / 2).permute(0, 2, 3, 1).numpy()


# -- cards -------------------------------------------------------------------------------------------------
def test_cards_carry_upstream_ids_datasets_and_published_fids():
    plugins = {p.name: p for p in medigan_host.list_plugins()}
    assert plugins["dcgan-mammo"].status == "ok" and plugins["dcgan-mammo"].models == [CALC, OPTIMAM, BCDR]
    expected = {1: (CALC, "INbreast", 67.60, 1.27, 1000, 100), 2: (OPTIMAM, "OPTIMAM", 80.51, 6.19, 1000, 200),
                5: (BCDR, "BCDR", 180.04, 1.67, 199, 100)}
    for number, (model_id, dataset, fid, fid_rad, n, latent) in expected.items():
        card = medigan_host.get_card(number)
        assert card.id == model_id and card.upstream_id.startswith(f"{number:05d}_DCGAN_MMG_")
        assert medigan_host.get_card(card.upstream_id).id == model_id
        assert dataset in card.dataset and card.citation and card.doi and card.weights == ()
        assert card.metric("fid") == {**card.metrics["fid"], "value": fid}
        assert card.metric("fid")["extractor"] == "inception-v3-imagenet" and card.metric("fid")["n"] == n
        assert card.metric("FID_RadImageNet")["value"] == fid_rad
        assert card.metric("fid_radimagenet")["extractor"] == "radimagenet-resnet50"
        assert spec_of(model_id).latent_dim == latent and spec_of(model_id).image_size == 128
        assert card.extra["upstream_weights"]["url"].startswith("https://zenodo.org/record/")


def test_listing_and_info_import_no_torch_and_need_no_weights(tmp_path):
    probe = ("import sys, json; from medigan_host.cli import main\n"
             "for args in (['list'], ['info', '2', '--json'], ['fetch', '5']):\n"
             "    try: main(args)\n"
             "    except SystemExit as e: assert e.code in (0, None), (args, e.code)\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'safetensors'))))")
    env = {**os.environ, "MEDIGAN_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert "00002_DCGAN_MMG_MASS_ROI" in result.stdout and "declares no weights" in result.stdout


# -- without weights -----------------------------------------------------------------------------------------
def test_generation_without_weights_says_how_to_get_them(cache, tmp_path):
    with pytest.raises(WeightsError) as info:
        medigan_host.load_model(CALC, device="cpu")
    message = str(info.value)
    for words in ("00001_DCGAN_MMG_CALC_ROI.zip", "without a sha256", "python -m medigan_plugin_dcgan_mammo.convert 00001",
                  str(cache / CALC / "1.0.0" / WEIGHTS_FILE), "No random weights"):
        assert words in message, words
    from click.testing import CliRunner

    from medigan_host.cli import cli

    result = CliRunner().invoke(cli, ["generate", "1", "-n", "2", "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and "convert 00001" in result.output and "Traceback" not in result.output
    assert not list((tmp_path / "out").rglob("*.png"))


# -- conversion ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which, model_id", [("calc", CALC), ("optimam", OPTIMAM)])
def test_converted_upstream_checkpoint_reproduces_the_upstream_network(upstream, cache, which, model_id):
    reference, archive = upstream[which]
    path, digest, size = convert.convert(model_id, archive)
    assert path == cache / model_id / "1.0.0" / WEIGHTS_FILE and path.stat().st_size == size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert (path.parent / f"{WEIGHTS_FILE}.sha256").read_text().split()[0] == digest
    model = medigan_host.load_model(model_id, device="cpu")
    seeds = [3, 1, 4, 1, 5]
    samples = model.generate(seeds)
    assert samples.images.shape == (5, 128, 128, 1) and samples.images.dtype == np.float32
    assert 0.0 <= samples.images.min() and samples.images.max() <= 1.0 and samples.images.std() > 0.01
    np.testing.assert_allclose(samples.images, reference_images(reference, model_id, seeds), atol=1e-5)
    assert not model.generator.network.training
    assert all(not p.requires_grad for p in model.generator.network.parameters())


def test_conversion_is_deterministic_and_can_write_elsewhere(upstream, cache, tmp_path):
    _, archive = upstream["calc"]
    first = convert.convert("00001_DCGAN_MMG_CALC_ROI", archive, tmp_path / "a.safetensors")
    second = convert.convert(1, archive, tmp_path / "b.safetensors")
    assert first[1] == second[1] and (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    with zipfile.ZipFile(archive) as zf:  # the .pt inside the zip converts to the very same file
        (tmp_path / "dcgan.pt").write_bytes(zf.read("00001_DCGAN_MMG_CALC_ROI/dcgan.pt"))
    assert convert.convert(1, tmp_path / "dcgan.pt", tmp_path / "c.safetensors")[1] == first[1]
    assert not cache.exists(), "--output writes only where it is told"


def test_convert_command_line(upstream, cache, tmp_path):
    _, archive = upstream["optimam"]
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


def test_convert_exit_statuses(upstream, cache, capsys):
    _, archive = upstream["optimam"]
    assert convert.main(["1", str(archive)]) == 2  # the zip of 00002 holds no dcgan.pt: a usage error
    assert "holds 0 files named 'dcgan.pt'" in capsys.readouterr().err
    assert convert.main(["99", str(archive)]) == 2 and "unknown model '99'" in capsys.readouterr().err
    assert convert.main(["2", str(archive.parent / "missing.zip")]) == 2 and "is not a file" in capsys.readouterr().err
    assert convert.main(["2", str(archive), "--output", str(archive.parent / "no" / "dir" / "x")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_checkpoint_of_another_model_is_refused(upstream, cache):
    _, archive = upstream["optimam"]
    with pytest.raises(medigan_host.MediganUsageError, match="holds 0 files named 'dcgan.pt'"):
        convert.convert(CALC, archive)
    with zipfile.ZipFile(archive) as zf:
        raw = zf.read("MALIGN_DCGAN/malign_mass_gen")
    alone = cache.parent / "malign_mass_gen"
    alone.write_bytes(raw)
    with pytest.raises(WeightsError, match=r"does not fit model 'dcgan-mammo-calc-inbreast'.*is \(200, 450, 4, 4\)"):
        convert.convert(CALC, alone)
    assert not (cache / CALC).exists()


# -- safe loading ----------------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this creates a marker file: proof that code inside a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_checkpoint_is_refused_without_running_code(cache, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "dcgan.pt"
    torch.save({"generator": _Payload(marker)}, evil)
    with pytest.raises(WeightsError, match="refused to load .*weights_only=True.*never runs code"):
        convert.convert(CALC, evil)
    assert not marker.exists() and not (cache / CALC).exists()


def test_pickle_planted_as_weights_is_refused_without_running_code(upstream, cache, tmp_path):
    _, archive = upstream["calc"]
    path, _, _ = convert.convert(CALC, archive)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save(_Payload(marker), evil)
    path.write_bytes(evil.read_bytes())  # an attacker who also rewrites the sha256 record:
    (path.parent / f"{WEIGHTS_FILE}.sha256").write_text(f"{hashlib.sha256(evil.read_bytes()).hexdigest()}  {WEIGHTS_FILE}\n")
    with pytest.raises(WeightsError, match="not a valid safetensors file.*never unpickles"):
        medigan_host.load_model(CALC, device="cpu")
    assert not marker.exists()


def test_tampered_converted_weights_are_deleted(upstream, cache):
    _, archive = upstream["calc"]
    path, _, _ = convert.convert(CALC, archive)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="so it was deleted"):
        medigan_host.load_model(CALC, device="cpu")
    assert not path.exists()
    with pytest.raises(WeightsError, match="has no weights on this machine"):
        medigan_host.load_model(CALC, device="cpu")


# -- weights from a card url -----------------------------------------------------------------------------------
class _Published:
    """The 00005 card as it will read once converted weights are published: with a weights url and sha256."""

    def __init__(self, url: str, digest: str, size: int) -> None:
        base = next(c for c in plugin.CARDS if c["id"] == BCDR)
        self.card = {**base, "id": "dcgan-mammo-published", "upstream_id": None,
                     "weights": {"url": url, "sha256": digest, "size": size}}

    @hookimpl
    def medigan_register_models(self, register):
        register(self.card, plugin.LOADER)


def test_weights_come_from_the_card_url(upstream, cache, tmp_path):
    reference = UpstreamStyle(spec_of(BCDR), "main")
    gan_compare_zip(tmp_path, reference)  # writes dcgan.pt (500.pt upstream) beside the zip
    _, digest, size = convert.convert(BCDR, tmp_path / "dcgan.pt", tmp_path / "published.safetensors")
    data = (tmp_path / "published.safetensors").read_bytes()
    with WeightsServer({"/g.safetensors": data}) as server:
        medigan_host.register_plugin(_Published(server.url("/g.safetensors"), digest, size), name="published")
        model = medigan_host.load_model("dcgan-mammo-published", device="cpu")
        np.testing.assert_allclose(model.generate([7, 8]).images, reference_images(reference, BCDR, [7, 8]), atol=1e-5)
        assert server.requests == ["/g.safetensors"]
        server.files["/g.safetensors"] = data[:-1] + b"\0"
        cached = model_folder(ModelCard.from_dict(_Published("https://x/g.safetensors", digest, size).card))
        (cached / "g.safetensors").unlink()
        with pytest.raises(WeightsError, match="truncated, corrupted or replaced, so it was deleted"):
            medigan_host.load_model("dcgan-mammo-published", device="cpu")
        assert [p.name for p in cached.iterdir()] == [".medigan-entry"], "nothing kept but medigan's own marker"


# -- the contract --------------------------------------------------------------------------------------------
def test_samples_depend_only_on_their_seed(upstream, cache, tmp_path):
    convert.convert(CALC, upstream["calc"][1])
    batches = {size: list(medigan_host.generate(CALC, 4, seed=21, batch_size=size, device="cpu")) for size in (1, 3)}
    images = {size: np.concatenate([b.images for b in got]) for size, got in batches.items()}
    assert np.array_equal(images[1], images[3])  # bitwise on CPU
    model = medigan_host.load_model(CALC, device="cpu")
    seeds = [s for b in batches[3] for s in b.seeds]
    assert np.array_equal(model.generate(seeds[::-1]).images, images[3][::-1])
    assert not np.array_equal(images[3][0], images[3][1])
    run = medigan_host.generate(CALC, 2, tmp_path / "run", seed=21, device="cpu")
    assert run.generated == 2 and len(list((tmp_path / "run" / "images").glob("*.png"))) == 2


def test_interleaved_with_other_plugins_in_one_process(upstream, cache):
    convert.convert(CALC, upstream["calc"][1])
    convert.convert(OPTIMAM, upstream["optimam"][1])
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


def test_missing_safetensors_names_the_pip_command(monkeypatch, upstream, cache):
    convert.convert(CALC, upstream["calc"][1])
    for name in [m for m in sys.modules if m == "safetensors" or m.startswith("safetensors.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(FrameworkMissingError, match="pip install safetensors"):
        medigan_host.load_model(CALC, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_runs_on_the_gpu(upstream, cache):
    convert.convert(CALC, upstream["calc"][1])
    seeds = list(range(8))
    cpu = medigan_host.load_model(CALC, device="cpu").generate(seeds).images
    for device in ("auto", "cuda", "cuda:0"):
        model = medigan_host.load_model(CALC, device=device)
        assert model.device.startswith("cuda") and next(model.generator.network.parameters()).is_cuda
        np.testing.assert_allclose(model.generate(seeds).images, cpu, atol=2e-3)
    gpu = medigan_host.load_model(CALC, device="cuda")
    np.testing.assert_allclose(np.concatenate([gpu.generate(seeds[:3]).images, gpu.generate(seeds[3:]).images]),
                               gpu.generate(seeds).images, atol=1e-5)
