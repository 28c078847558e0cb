# The original README's torch snippets, as a user runs them.
import torch

from medigan import Generators

generators = Generators()

# create a torch dataloader of samples of model 1
dataloader = generators.get_as_torch_dataloader(model_id="00001", num_samples=6, batch_size=3, shuffle=False)
print(f"len(dataloader): {len(dataloader)}")
for i, data_dict in enumerate(dataloader):
    print(f'Batch {i}: sample: {data_dict.get("sample").shape}, mask: {data_dict.get("mask")}')
    assert torch.is_tensor(data_dict.get("sample")) and data_dict["sample"].shape == (3, 32, 32, 1)
assert i == 1

# a dataset of a model with masks
dataset = generators.get_as_torch_dataset(model_id="00009_PGGAN_POLYP_PATCHES_W_MASKS", num_samples=2)
assert set(dataset[0]) == {"sample", "mask"} and dataset[0]["mask"].shape[:2] == dataset[0]["sample"].shape[:2]
print("readme_torch OK")
