"""`medigan show`: grids with masks and cards, latents and interpolation, the latent explorer (headless, Agg)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner

import medigan_host
from medigan_host import MediganUsageError, load_model
from medigan_host.cards import ModelCard
from medigan_host.display import label_colour, mid_slices, mosaic, overlay, to_rgb, value_range
from medigan_host.viz.explorer import LatentExplorer, slider_groups
from medigan_host.viz.interpolation import latent_path, slerp

BRAIN = "mri-brain-phantom-3d"


@pytest.fixture
def headless(monkeypatch):
    """No display: matplotlib on Agg, DISPLAY and WAYLAND_DISPLAY unset."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return matplotlib


def invoke(*args: str):
    from medigan_host.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def read_png(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _card(**overrides) -> ModelCard:
    fields = {"id": "m", "name": "m", "version": "1", "description": "d", "framework": "numpy", "modality": "ct",
              "image_size": [4, 4], "channels": 1, "license": "MIT"}
    return ModelCard.from_dict({**fields, **overrides})


# -------------------------------------------------------------------------------------------- display (numpy)

def test_value_range_follows_the_card_then_the_dtype():
    images16 = np.array([[100], [300]], dtype=np.uint16).reshape(2, 1, 1, 1)
    assert value_range(_card(display_range=[0, 1000]), images16) == (0.0, 1000.0)
    assert value_range(_card(), images16) == (100.0, 300.0)
    assert value_range(_card(), np.zeros((1, 1, 1, 1), np.uint8)) == (0.0, 255.0)
    assert value_range(_card(), np.zeros((1, 1, 1, 1), np.float32)) == (0.0, 1.0)


def test_masks_are_overlaid_in_their_label_colour():
    rgb = np.zeros((4, 4, 3), np.float32)
    mask = np.zeros((4, 4, 1), np.uint8)
    mask[1:3, 1:3] = 2
    out = overlay(rgb, mask, alpha=0.5)
    assert np.all(out[0, 0] == 0)  # background untouched
    assert np.allclose(out[1, 1], label_colour(2))  # boundary pixel: full colour
    big = np.zeros((6, 6, 1), np.uint8)
    big[1:5, 1:5] = 3
    inner = overlay(np.zeros((6, 6, 3), np.float32), big, alpha=0.5)[2, 2]
    assert np.allclose(inner, 0.5 * np.asarray(label_colour(3)))  # interior: tinted


def test_to_rgb_scales_greyscale_and_shows_volumes_as_three_mid_slices():
    card = _card(image_size=[6, 4, 5])
    volume = np.zeros((1, 6, 4, 5, 1), np.float32)
    volume[0, 3] = 1.0  # the axial mid slice
    tiles = to_rgb(volume, card)
    assert tiles.shape == (1, 6, 5 + 5 + 4, 3) and tiles.dtype == np.uint8
    assert np.all(tiles[0, :4, :5] == 255)  # axial slice is white; its padding below is black
    assert np.all(tiles[0, 4:, :5] == 0)
    assert mid_slices(np.arange(2 * 3 * 4).reshape(2, 3, 4)).shape == (3, 4 + 4 + 3)


def test_mosaic_lays_tiles_out_in_rows():
    tiles = np.stack([np.full((2, 3, 3), i, np.uint8) for i in range(5)])
    grid = mosaic(tiles, columns=2, gap=1)
    assert grid.shape == (3 * 2 + 2, 2 * 3 + 1, 3)
    assert grid[0, 4, 0] == 1 and grid[6, 0, 0] == 4 and grid[6, 4, 0] == 255  # tile 1, tile 4, empty slot


# -------------------------------------------------------------------------------------------- interpolation

def test_slerp_keeps_the_ends_and_the_norm_of_gaussian_latents():
    a, b = medigan_host.latents([1, 2], 512)
    path = latent_path(a, b, 5)
    assert np.allclose(path[0], a, atol=1e-6) and np.allclose(path[-1], b, atol=1e-6)
    norms = np.linalg.norm(path, axis=1)
    assert norms.min() > 0.95 * min(np.linalg.norm(a), np.linalg.norm(b))  # stays on the shell ...
    linear_mid = np.linalg.norm(latent_path(a, b, 3, "linear")[1])
    assert linear_mid < 0.8 * norms[2]  # ... where a straight line cuts through the interior
    assert np.allclose(slerp(a, a, 0.5), a)  # parallel: falls back to a line


def test_latent_path_rejects_bad_requests():
    a = np.zeros(3)
    for args, match in (((a, a, 1), "at least 2"), ((a, np.zeros(4), 3), "one shape"), ((a, a, 3, "cubic"), "unknown")):
        with pytest.raises(MediganUsageError, match=match):
            latent_path(*args)


# -------------------------------------------------------------------------------------------- model latents

def test_brain_phantom_accepts_latents_and_seed_latents_give_the_seed_anatomy():
    model = load_model(BRAIN, "cpu")
    assert model.latent_shape == (74,)
    z = model.latents_of([3, 4])
    assert z.shape == (2, 74) and abs(float(z.mean())) < 0.5
    from_latents = model.generate_from_latents(z).images[..., 0]
    assert np.array_equal(from_latents, model.generate_from_latents(z).images[..., 0])  # deterministic
    seeded = model.generate([3, 4]).images[..., 0]
    corr = np.corrcoef(np.stack([from_latents.ravel()[::7] for from_latents in (*from_latents, *seeded)]))
    assert corr[0, 2] > corr[0, 3] and corr[1, 3] > corr[1, 2]  # same anatomy as its seed (noise differs)
    assert corr[0, 2] > 0.95


def test_models_without_latents_and_bad_latents_are_refused_clearly():
    with pytest.raises(MediganUsageError, match="does not accept explicit latents"):
        load_model("ct-head-phantom", "cpu").latents_of([1])
    model = load_model(BRAIN, "cpu")
    with pytest.raises(MediganUsageError, match=r"shape \(N, 74\)"):
        model.generate_from_latents(np.zeros((1, 10)))
    with pytest.raises(MediganUsageError, match="NaN"):
        model.generate_from_latents(np.full((1, 74), np.nan))
    with pytest.raises(medigan_host.ConditionError):
        model.generate_from_latents(np.zeros(74), condition={"lesion": "present"})


# -------------------------------------------------------------------------------------------- show

def test_show_writes_a_grid_with_the_card(headless, tmp_path):
    out = tmp_path / "grid.png"
    result = invoke("show", "mammo-breast-phantom", "-n", "4", "--seed", "3", "--condition", "density=d", "--output-file", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    image = read_png(out)
    assert image.shape[1] > image.shape[0] > 300  # grid plus card panel beside it
    mass = np.all(image == label_colour(2), axis=-1) | np.all(image == label_colour(1), axis=-1)
    assert mass.any()  # mask outlines in their label colours


def test_show_never_overwrites_without_being_asked(headless, tmp_path):
    out = tmp_path / "grid.png"
    out.write_bytes(b"keep me")
    result = invoke("show", "ct-head-phantom", "-n", "1", "--output-file", str(out))
    assert result.exit_code == 2 and "already exists" in result.output
    assert out.read_bytes() == b"keep me"
    assert invoke("show", "ct-head-phantom", "-n", "1", "--output-file", str(out), "--overwrite").exit_code == 0
    assert read_png(out).size
    result = invoke("show", "ct-head-phantom", "--output-file", str(tmp_path / "grid.jpg"))
    assert result.exit_code == 2 and ".png" in result.output


def test_headless_show_writes_the_default_file(headless, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("show", BRAIN, "-n", "2")
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{BRAIN}-grid.png").is_file()


def test_show_usage_errors_exit_2(headless, tmp_path):
    for args, message in (
        (["ct-head-phantom", "--interpolate"], "does not accept explicit latents"),
        (["ct-lowdose-sim"], "--inputs"),
        ([BRAIN, "--explore"], "needs a display"),
        ([BRAIN, "--interpolate", "--explore"], "choose one"),
        ([BRAIN, "--steps", "4"], "does not apply"),
        (["ct-head-phantom", "--condition", "lesion=maybe"], "choose one of"),
        (["no-such-model"], "unknown model"),
    ):
        result = invoke("show", *args, "--output-file", str(tmp_path / "x.png")) if "--explore" not in args else invoke("show", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert not (tmp_path / "x.png").exists()


def test_show_image_to_image_model_with_inputs(headless, tmp_path):
    inputs = np.full((2, 256, 256, 1), 1024, np.uint16)
    np.save(tmp_path / "in.npy", inputs)
    result = invoke("show", "ct-lowdose-sim", "--inputs", str(tmp_path / "in.npy"), "--output-file", str(tmp_path / "x.png"))
    assert result.exit_code == 0, result.output


def test_interpolation_strip(headless, tmp_path):
    out = tmp_path / "strip.png"
    result = invoke("show", BRAIN, "--interpolate", "--seed", "1", "--to-seed", "2", "--steps", "3", "--output-file", str(out))
    assert result.exit_code == 0, result.output
    image = read_png(out)
    assert image.shape[1] > 2 * image.shape[0]  # one row of steps


def test_missing_matplotlib_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke("show", "ct-head-phantom", "--output-file", str(tmp_path / "x.png"))
    from medigan_host.frameworks import pip_command

    # 'pip install ".[viz]"' from a clone (as here), 'pip install "medigan-host[viz]"' from an index
    assert result.exit_code == 1 and pip_command("medigan-host[viz]") in result.output and "[viz]" in result.output


# -------------------------------------------------------------------------------------------- latent explorer

def test_slider_groups():
    groups = slider_groups(74, 10)
    assert len(groups) == 8 and groups[-1] == range(70, 74)
    assert len(slider_groups(100, 1)) == 25  # capped at 32 sliders: 4 dimensions each
    with pytest.raises(MediganUsageError, match="slider_grouper"):
        slider_groups(10, 0)


def test_explorer_sliders_change_the_image(headless):
    from matplotlib.figure import Figure

    explorer = LatentExplorer(load_model(BRAIN, "cpu"), seed=5, slider_grouper=10, figure=Figure())
    assert len(explorer.sliders) == 8
    first = explorer.image.copy()
    explorer.sliders[0].set_val(2.5)  # as a user dragging it: the callback regenerates the image
    moved = explorer.image.copy()
    assert not np.array_equal(first, moved)
    assert np.allclose(explorer.latent[:10], explorer.base[:10] + 2.5) and np.allclose(explorer.latent[10:], explorer.base[10:])
    explorer.reset()
    assert np.array_equal(explorer.image, first)
    explorer.set_seed(6)
    assert explorer.seed == 6 and not np.array_equal(explorer.image, first)
    explorer.figure.canvas.draw()  # renders with Agg


def test_explore_snapshot_and_generators_visualize(headless, tmp_path):
    out = tmp_path / "explorer.png"
    result = invoke("show", BRAIN, "--explore", "--slider-grouper", "20", "--output-file", str(out))
    assert result.exit_code == 0, result.output
    assert read_png(out).size
    from medigan_host import Generators

    generators = Generators()
    generators.visualize(BRAIN, slider_grouper=37, auto_close=True)
    from medigan_host.viz.visualize import visualize

    explorer = visualize(BRAIN, slider_grouper=37, auto_close=True)
    assert len(explorer.sliders) == 2
    with pytest.raises(MediganUsageError, match="needs a display"):
        generators.visualize(BRAIN)


# -------------------------------------------------------------------------------------------- DCGAN (torch, onnx)

def _dcgan_latents_match(model_id: str) -> None:
    model = load_model(model_id, "cpu")
    assert model.latent_shape == (100,)
    seeded = model.generate([11, 12]).images
    from_latents = model.generate_from_latents(model.latents_of([11, 12])).images
    assert np.allclose(seeded, from_latents, atol=1e-6)
    from medigan_host.viz.visualize import interpolation_samples

    strip = interpolation_samples(model, 11, 12, 4).images
    assert np.allclose(strip[0], seeded[0], atol=1e-5) and np.allclose(strip[-1], seeded[1], atol=1e-5)
    assert not np.allclose(strip[1], strip[0])


@pytest.mark.torch
def test_torch_dcgan_generates_from_latents():
    pytest.importorskip("torch")
    pytest.importorskip("medigan_plugin_histology_dcgan.torch_model")
    _dcgan_latents_match("histology-ihc-dcgan")


@pytest.mark.onnx
def test_onnx_dcgan_generates_from_latents():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("medigan_plugin_onnx")
    pytest.importorskip("medigan_plugin_histology_dcgan")
    _dcgan_latents_match("histology-ihc-dcgan-onnx")


def test_grid_holds_the_samples_generate_writes():
    from medigan_host.viz.visualize import grid_samples

    grid = grid_samples(load_model("mammo-breast-phantom", "cpu"), 3, 5, {"density": "b"})
    batches = list(medigan_host.generate("mammo-breast-phantom", 3, seed=5, batch_size=2, condition={"density": "b"}))
    assert np.array_equal(grid.images, np.concatenate([b.images for b in batches]))
    assert np.array_equal(grid.masks, np.concatenate([b.masks for b in batches]))


def test_display_detection(headless, monkeypatch):
    from medigan_host.viz.visualize import has_display

    monkeypatch.setattr(headless, "get_backend", lambda: "TkAgg")
    assert has_display() is (not sys.platform.startswith("linux"))  # Linux without DISPLAY: no window
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert has_display() is True
    monkeypatch.setattr(headless, "get_backend", lambda: "agg")
    assert has_display() is False
