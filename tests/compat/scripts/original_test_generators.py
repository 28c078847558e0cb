# The original library's tests/test_generators.py, unchanged but for the models (those the stand-ins serve).
# ruff: noqa: I001 (kept as the original wrote it)
import pytest
from medigan import Generators

models_list = ["00001_DCGAN_MMG_CALC_ROI",
"00002_DCGAN_MMG_MASS_ROI",
"00005_DCGAN_MMG_MASS_ROI"
]

@pytest.mark.parametrize("model_id", models_list)
def test_generate_model(model_id):
    generators = Generators()

    images = generators.generate(model_id=model_id, num_samples=3, save_images=False)

    assert len(images) == 3
