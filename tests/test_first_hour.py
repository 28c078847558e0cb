"""What stopped a new user, a plugin author and a scanner's viewer in their first hour, each checked."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from conftest import REPO, run_cli

import medigan_host as mg
from medigan_host.cards import ModelCard
from medigan_host.devkit.contract import all_passed, run_checks
from medigan_host.errors import FrameworkMissingError, MediganUsageError
from medigan_host.frameworks import TORCH_CPU_INDEX, pip_command, require_framework

#: A plugin written the dict way: its card is a plain dict, and its loader reads the card it receives as one.
DICT_PLUGIN = '''
import numpy as np
from medigan_host import hookimpl, latents

CARD = {"id": "dict-model", "name": "dict", "version": "1.0.0", "description": "A plugin written with plain dicts.",
        "framework": "numpy", "modality": "ct", "anatomy": "head", "architecture": "sigmoid of noise",
        "dataset": "none", "image_size": [8, 6], "channels": 1, "license": "MIT", "metrics": {"fid": 3.0},
        "spacing": [0.5, 0.5]}

class Gen:
    def __init__(self, card):
        self.height, self.width = card["image_size"]
        self.channels = card["channels"]
        self.scale = card.get("spacing", [1.0])[0]
        self.has_metrics = "metrics" in card
        self.fields = dict(card)
        assert card.get("no-such-field") is None and "no-such-field" not in card

    def generate(self, seeds, *, condition=None, inputs=None):
        z = latents(seeds, self.height * self.width * self.channels) * self.scale
        images = 1 / (1 + np.exp(-z))
        return {"images": images.reshape(len(seeds), self.height, self.width, self.channels).astype(np.float32)}

def load(card, device):
    return Gen(card)

@hookimpl
def medigan_register_models(register):
    register(CARD, load)
'''


# -- plugin authors: the card a loader receives --------------------------------------------------------------------

def test_a_card_is_a_read_only_mapping_with_its_extras():
    card = ModelCard.from_dict({**mg.get_card("ct-head-phantom").to_dict(), "spacing": [0.5, 0.5], "scanner": "sim"})
    assert card["image_size"] == card.image_size == (256, 256) and card["id"] == "ct-head-phantom"
    assert card.get("spacing") == [0.5, 0.5] and card.get("missing", 7) == 7 and card["scanner"] == "sim"
    assert "metrics" in card and "spacing" in card and "extra" not in card and "missing" not in card
    assert dict(card).keys() == card.to_dict().keys() and len(card) == len(card.to_dict())
    with pytest.raises(KeyError):
        card["extra"]
    with pytest.raises(TypeError):
        card["id"] = "other"  # read-only


def test_a_plugin_written_the_dict_way_generates_and_passes_every_check(site, host):
    site.add("dictway", DICT_PLUGIN)
    host()
    model = mg.load_model("dict-model", device="cpu")
    assert model.generator.fields["spacing"] == [0.5, 0.5] and model.generator.has_metrics
    assert model.generate([1, 2]).images.shape == (2, 8, 6, 1)
    results = run_checks("dictway")
    assert all_passed(results), [r for r in results if not r.passed]


# -- plugin authors: medigan check --------------------------------------------------------------------------------

def test_a_missing_framework_is_a_skip_that_names_the_cpu_install(site, host, monkeypatch):
    site.add("dictway", DICT_PLUGIN.replace('"framework": "numpy"', '"framework": "pytorch"'))
    host()
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    results = {r.name: r for r in run_checks("dict-model")}
    loader = results["loader-builds"]
    assert loader.skipped and f"pip install torch --index-url {TORCH_CPU_INDEX}" in loader.detail
    assert all(results[name].skipped for name in ("output-matches-card", "seeds-deterministic", "conditions"))
    assert not any(r.status == "FAIL" for r in results.values())


@pytest.mark.parametrize(("source", "says"), [
    ("from medigan_host import hookimpl\n@hookimpl\ndef medigan_register_models(register):\n    pass\n",
     "a runner that other plugins' cards name"),
    ("from medigan_host import hookimpl\n@hookimpl\ndef medigan_register_feature_extractors(register):\n    pass\n",
     "feature extractors only"),
])
def test_runner_only_and_extractor_only_plugins_are_not_failures(site, source, says):
    site.add("nomodels", source)
    result = run_cli("check", "nomodels", env=site.env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIP  nomodels  cards-valid" in result.stdout and says in result.stdout and "0 failed" in result.stdout


def test_check_with_no_argument_passes_on_the_readme_install(tmp_path):
    """The README installs the host, the phantoms, the ONNX runner and the default model, and no torch/TensorFlow."""
    import importlib.util

    for module in ("medigan_plugin_onnx", "medigan_plugin_histology_dcgan", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the README's install includes {module}, not installed here")
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nfor _m in ('torch', 'tensorflow', 'keras'):\n    sys.modules[_m] = None\n")
    env = {**os.environ, "PYTHONPATH": str(blocker), "MEDIGAN_PLUGINS": "phantoms,onnx,histology-dcgan"}
    result = run_cli("check", env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout
    assert "SKIP  histology-ihc-dcgan  loader-builds" in result.stdout and "--index-url" in result.stdout


# -- plugin authors: medigan new --------------------------------------------------------------------------------------

def test_new_refuses_a_bad_size_in_one_line_and_writes_no_folder(tmp_path):
    pytest.importorskip("cookiecutter")
    out = tmp_path / "out"
    result = run_cli("new", "--no-input", "--set", "image_size=64", "-o", str(out))
    assert result.returncode == 2 and "image_size '64' must be HxW" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_new_into_an_existing_project_says_so_once(tmp_path):
    pytest.importorskip("cookiecutter")
    (tmp_path / "medigan-plugin-mymodels").mkdir()
    result = run_cli("new", "--no-input", "-o", str(tmp_path))
    assert result.returncode == 2 and result.stderr.count("Error:") == 1 and "already exists" in result.stderr
    assert "--set plugin_name=" in result.stderr


def test_new_asks_only_what_the_options_left_open(tmp_path):
    pytest.importorskip("cookiecutter")
    from click.testing import CliRunner

    from medigan_host.cli import cli

    result = CliRunner().invoke(cli, ["new", "--framework", "pytorch", "--set", "plugin_name=asked", "-o", str(tmp_path)],
                                input="\n" * 20)
    assert result.exit_code == 0, result.output
    assert "Framework of the generator" not in result.output and "Plugin name" not in result.output
    assert "Model id" in result.output and "Licence" in result.output  # the questions left open are asked
    readme = (tmp_path / "medigan-plugin-asked" / "README.md").read_text()
    assert f"pip install torch --index-url {TORCH_CPU_INDEX}" in readme and "torch>=2.1,<3" in readme
    assert f"next: pip install torch --index-url {TORCH_CPU_INDEX} && pip install -e" in result.output


# -- new users: install commands that work ---------------------------------------------------------------------------

def test_pip_commands_never_pull_cuda_and_name_the_clone_folders(monkeypatch):
    from medigan_host.frameworks import _clone_root

    monkeypatch.chdir(REPO)
    assert pip_command("torch") == f"pip install torch --index-url {TORCH_CPU_INDEX}"
    assert pip_command("onnxruntime", "torch") == f"pip install onnxruntime && pip install torch --index-url {TORCH_CPU_INDEX}"
    assert pip_command("medigan-plugin-not-here") == "pip install medigan-plugin-not-here"
    if _clone_root() == REPO:  # installed from this checkout, as the README does: extras and plugins named by folder
        assert pip_command("medigan-host[formats]") == 'pip install ".[formats]"'
        assert pip_command("medigan-plugin-phantoms") == "pip install ./plugins/medigan-plugin-phantoms"
        monkeypatch.chdir(REPO / "docs")
        assert pip_command("medigan-host[formats]") == f'pip install "{REPO}[formats]"'
    else:  # installed from an index or a wheel
        assert pip_command("medigan-host[formats]") == 'pip install "medigan-host[formats]"'
        assert pip_command("medigan-plugin-phantoms") == "pip install medigan-plugin-phantoms"
    monkeypatch.setattr("medigan_host.frameworks._clone_root", lambda: None)
    assert pip_command("medigan-host[viz]", "medigan-plugin-phantoms") == 'pip install "medigan-host[viz]" medigan-plugin-phantoms'
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(FrameworkMissingError) as missing:
        require_framework("pytorch", "some-model")
    assert "`pip install torch --index-url" in str(missing.value)


def test_pillow_is_in_the_formats_extra_the_errors_name():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.lower().startswith("pillow") for req in extras["formats"])
    from medigan_host.formats.writers import formats_extra

    assert "[formats]" in formats_extra()


# -- new users: messages ----------------------------------------------------------------------------------------------

def test_an_image_to_image_model_on_the_cli_asks_for_the_inputs_flag(tmp_path):
    result = run_cli("generate", "ct-lowdose-sim", "-n", "2", "-o", str(tmp_path / "out"))
    assert result.returncode == 2 and "--inputs" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_empty_plugin_filter_says_it_filters_installed_plugins():
    env = {**os.environ, "MEDIGAN_PLUGINS": ""}
    listed = run_cli("list", env=env)
    assert listed.returncode == 0 and "MEDIGAN_PLUGINS=''" in listed.stdout and "phantoms" in listed.stdout
    assert "unset MEDIGAN_PLUGINS" in listed.stdout
    unknown = run_cli("info", "ct-head-phantom", env=env)
    assert unknown.returncode == 2 and "MEDIGAN_PLUGINS=''" in unknown.stderr


def test_an_image_to_image_model_in_python_asks_for_inputs():
    with pytest.raises(MediganUsageError, match="pass inputs="):
        mg.load_model("ct-lowdose-sim").generate([1])


def test_search_suggests_card_words_by_spelling_and_beginning_or_nothing(monkeypatch):
    from medigan_host.plugins import reset_host

    monkeypatch.setenv("MEDIGAN_PLUGINS", "phantoms,onnx,histology-dcgan")  # the README's install
    reset_host()
    for word in ("calcification", "polyp", "cardiac"):  # were: 'variation', 'evaluation'; 'only'; 'card'
        results = mg.search_models(word)
        assert word in results.unmatched and word not in results.suggestions
    assert mg.search_models("phantomatic").suggestions == {"phantomatic": ["phantom"]}  # a shared beginning
    assert "brain" in mg.search_models("braiin").hits[0].matched.get("braiin", [])  # one edit: corrected outright


# -- new users: help -------------------------------------------------------------------------------------------------

def _commands():
    """(path, command) for every command and group of the CLI, the top level included."""
    import click

    from medigan_host.cli import cli

    def walk(command, path):
        yield path, command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])

    return list(walk(cli, []))


def _parse(example: str):
    """The command an example names, its arguments parsed by click (usage errors raise); nothing is run."""
    import shlex

    import click

    from medigan_host.cli import cli

    words = shlex.split(example)
    assert words[0] == "medigan"
    command, name, ctx, words = cli, "medigan", None, words[1:]
    while isinstance(command, click.Group):
        ctx = click.Context(command, info_name=name, parent=ctx)
        name, words = words[0], words[1:]
        command = command.get_command(ctx, name)
        assert command is not None, example
    command.make_context(name, list(words), parent=ctx)
    return command


def test_every_help_ends_with_an_example_that_parses():
    from click.testing import CliRunner

    from medigan_host.cli import EXAMPLES, cli

    for path, command in _commands():
        result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        assert "Example:\n  medigan " in result.output, path
        example = EXAMPLES[" ".join(path)]
        assert example in result.output.replace("\n", " ").replace("  ", " ") or example in result.output, path
        parsed = _parse(example)
        assert parsed is command or " ".join(path) in ("", "cache", "study", "card", "env"), (path, example)


def test_top_level_help_shows_whole_descriptions():
    from click.testing import CliRunner

    from medigan_host.cli import cli

    text = " ".join(CliRunner().invoke(cli, ["--help"], terminal_width=80).output.partition("Commands:")[2].split())
    assert "..." not in text
    for name, command in cli.commands.items():
        first = " ".join(command.get_short_help_str(limit=10_000).split())
        assert f"{name} {first}" in text


def test_every_option_is_described_and_o_names_a_folder():
    import click

    for path, command in _commands():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, (path, param.opts)
                if "-o" in param.opts and path in (["evaluate"], ["study", "fid"]):
                    # a folder too, checked by the command itself so that a file name is pointed to --output-file
                    assert "Folder" in param.help and any("--output-file" in p.opts for p in command.params), path
                elif "-o" in param.opts:
                    assert isinstance(param.type, click.Path) and not param.type.file_okay, (path, param.opts)
    show = dict((" ".join(path), command) for path, command in _commands())["show"]
    assert "--output-file" in {opt for p in show.params for opt in p.opts}


# -- new users: gallery ------------------------------------------------------------------------------------------------

def test_gallery_overwrite_with_fewer_models_removes_the_earlier_models_files(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from click.testing import CliRunner

    from medigan_host.cli import cli

    folder = tmp_path / "gallery"
    first = CliRunner().invoke(cli, ["gallery", "-o", str(folder), "-n", "1", "--models", "ct-head-phantom,mammo-breast-phantom"])
    assert first.exit_code == 0, first.output
    (folder / "models" / "notes.txt").write_text("mine")
    again = CliRunner().invoke(cli, ["gallery", "-o", str(folder), "-n", "1", "--models", "ct-head-phantom", "--overwrite"])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (folder / "models").iterdir()) == ["ct-head-phantom.json", "ct-head-phantom.png", "notes.txt"]
    assert "mammo-breast-phantom" not in (folder / "index.html").read_text()


# -- scanner viewers and PACS ----------------------------------------------------------------------------------------

def test_dicom_of_an_hu_card_carries_its_rescale_and_window_and_every_file_says_synthetic(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    mg.generate("ct-head-phantom", 2, tmp_path / "ct", format="dicom", condition={"lesion": "present"})
    mg.generate("mammo-breast-phantom", 1, tmp_path / "mammo", format="dicom")
    card = mg.get_card("ct-head-phantom")
    low, high = card["display_range"]  # stored values, HU + 1024
    for path in sorted((tmp_path / "ct" / "images").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        assert (float(ds.RescaleIntercept), float(ds.RescaleSlope), ds.RescaleType) == (-1024.0, 1.0, "HU")
        assert float(ds.WindowCenter) == (low + high) / 2 - 1024 and float(ds.WindowWidth) == high - low
        assert ds[0x0008, 0x001C].value == "YES"
    for path in [*(tmp_path / "ct" / "masks").glob("*.dcm"), *(tmp_path / "mammo" / "masks").glob("*.dcm")]:
        ds = pydicom.dcmread(path)
        assert ds.SyntheticData == "YES"
        assert "RescaleIntercept" not in ds and "WindowCenter" not in ds  # masks: labels, no rescale, no window
    # a float image: its rescale gives the model's values back (docs/formats.md), and it has no window of its own
    (path,) = (tmp_path / "mammo" / "images").glob("*.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SyntheticData == "YES" and "WindowCenter" not in ds
    assert float(ds.RescaleSlope) > 0 and ds.RescaleType == "US"
    values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    mg.generate("mammo-breast-phantom", 1, tmp_path / "mammo-npy", format="npy")
    (raw,) = (tmp_path / "mammo-npy" / "images").glob("*.npy")
    import numpy as np

    assert np.abs(values - np.load(raw).squeeze()).max() <= float(ds.RescaleSlope)  # within one stored step


@pytest.mark.parametrize("fmt", ["png", "png16", "tiff"])
def test_a_file_copied_out_of_its_run_keeps_its_provenance(fmt, tmp_path):
    import shutil

    from medigan_host.formats.readers import read_image, read_provenance

    if fmt == "tiff":
        pytest.importorskip("tifffile")
    run = mg.generate("ct-head-phantom", 2, tmp_path / "run", seed=7, format=fmt)
    record = [line for line in (tmp_path / "run" / "manifest.jsonl").read_text().splitlines()][1]
    suffix = "tif" if fmt == "tiff" else "png"
    for kind in ("images", "masks"):
        copied = tmp_path / f"copied-{kind}.{suffix}"
        shutil.copy(tmp_path / "run" / kind / f"000001.{suffix}", copied)  # no run.json, no manifest beside it
        provenance = read_provenance(copied)
        assert provenance["model"] == "ct-head-phantom" and provenance["model_version"] == mg.get_card("ct-head-phantom").version
        assert provenance["synthetic"] is True and provenance["index"] == 1 and str(provenance["seed"]) in record
        assert provenance["kind"] == kind[:-1] and provenance["run_seed"] == 7
        assert read_image(copied).shape[:2] == (256, 256)
    assert run.generated == 2


def test_pillow_sees_the_png_text_chunks_and_foreign_files_have_no_provenance(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    from medigan_host.formats.readers import read_provenance
    from medigan_host.formats.writers import png_bytes

    mg.generate("mammo-breast-phantom", 1, tmp_path / "run")
    with image_module.open(tmp_path / "run" / "images" / "000000.png") as image:
        image.load()
        assert '"synthetic": true' in image.text["medigan"] and image.text["Description"].startswith("SYNTHETIC image")
    (tmp_path / "plain.png").write_bytes(png_bytes(np.zeros((4, 4, 1), np.uint8)))
    assert read_provenance(tmp_path / "plain.png") is None


def test_medigan_dicom_of_an_hu_card_reads_back_as_generated(tmp_path):
    pytest.importorskip("pydicom")
    from medigan_host.formats.readers import read_image

    mg.generate("ct-head-phantom", 1, tmp_path / "run", seed=2, format="dicom")
    stored = next(iter(mg.generate("ct-head-phantom", 1, seed=2))).images[0]
    image = read_image(tmp_path / "run" / "images" / "000000.dcm")
    assert image.dtype == np.uint16 and np.array_equal(image, stored)  # as generated; viewers apply the HU rescale
