"""One image per seed, whichever way it runs: a native port and its original-code twin give the same pixels.

The convention: a sample's latent is ``medigan_host.latents([seed], latent)`` (NumPy's generator seeded with the
sample's seed), both in the native port and in the original code, where the worker hands it to the original's
``torch.randn(num_samples, latent, 1, 1)`` draw; both run in batches of 16 (the last padded). Checked here on a stand-in
built from the original template, served as 00005's Zenodo record, run natively (medigan-plugin-dcgan-mammo, weights
converted without unpickling) and as original code (its __init__.py in a worker)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("medigan_plugin_dcgan_mammo")

from fakes import template_zip  # noqa: E402

import medigan_host  # noqa: E402
from medigan_host import get_card  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("upstream", ["00005_DCGAN_MMG_MASS_ROI", "00006_WGANGP_MMG_MASS_ROI"])
def test_native_port_and_original_code_make_the_same_pixels_for_a_seed(upstream, serve, shared_env):
    original = get_card("original-" + upstream.lower().replace("_", "-"))
    serve(original, zips={original.id: template_zip(original)})  # one record, both read it
    native = medigan_host.load_model(upstream)  # the number resolves to the native port
    assert native.card.id != original.id and native.card.upstream_id == original.upstream_id
    twin = medigan_host.load_model(original.id, trust_remote_code=True)
    seeds = [0, 1, 2, 41, 2**40 + 3]
    ours, theirs = native.generate(seeds).images, twin.generate(seeds).images
    assert ours.dtype == theirs.dtype == np.uint8 and ours.shape == theirs.shape == (5, 128, 128, 1)
    assert np.array_equal(ours, theirs)
    assert len({row.tobytes() for row in theirs}) == 5  # the latents differ per seed
    # sample i depends only on seeds[i], whatever the batch
    assert np.array_equal(twin.generate([41]).images[0], theirs[3])


def test_an_original_that_draws_no_torch_latent_falls_back_to_seeding(serve, shared_env):
    card = get_card("00017_DCGAN_XRAY_LUNG_NODULES")  # its stand-in draws from numpy's global state
    serve(card)
    model = medigan_host.load_model(card.id, trust_remote_code=True)
    batch = model.generate([3, 4]).images
    assert np.array_equal(model.generate([4]).images[0], batch[1]) and not np.array_equal(batch[0], batch[1])
