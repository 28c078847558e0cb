# The original README's "generate" snippets, as a user runs them. Nothing but medigan's API is used.
import glob
import os

from medigan import Generators

generators = Generators()

# generate 8 samples with model 1 (00001_DCGAN_MMG_CALC_ROI) into the default output folder
generators.generate(model_id="00001_DCGAN_MMG_CALC_ROI", num_samples=8)
folders = glob.glob("output/00001_DCGAN_MMG_CALC_ROI/*") or glob.glob("output/*/*")
assert len(folders) == 1, folders
assert len(os.listdir(folders[0])) == 8, os.listdir(folders[0])

# shortened ids, an output folder of our own, and counting what is in it
generators.generate(model_id=2, num_samples=5, output_path="my_samples/")
assert len(os.listdir("my_samples/")) == 5

# the samples as arrays instead of files
images = generators.generate(model_id="00005", num_samples=4, save_images=False)
assert len(images) == 4 and str(images[0].dtype) == "uint8" and images[0].shape[-1] == 1

# a generate function to call repeatedly
gen_function = generators.get_generate_function(model_id="00002_DCGAN_MMG_MASS_ROI", num_samples=3,
                                                output_path="function_samples")
gen_function()
assert len(glob.glob("function_samples/*")) == 3
print("readme_generate OK")
