"""``medigan.constants``: the config keys and defaults of the original medigan library.

The configs that :meth:`Generators.get_config_by_id` and ``Generators().config_manager.config_dict`` return
use these keys, so code that indexes them with these constants keeps working.
"""

#: Folder the original unpacked model packages into (medigan-host keeps weights in its cache instead).
MODEL_FOLDER = "models"
#: Where the original fetched its central config (medigan-host reads the installed plugins' cards instead).
CONFIG_FILE_URL = "https://raw.githubusercontent.com/RichardObi/medigan/main/config/global.json"
CONFIG_FILE_FOLDER = "config"
CONFIG_FILE_NAME_AND_EXTENSION = "global.json"

CONFIG_FILE_KEY_EXECUTION = "execution"
CONFIG_FILE_KEY_SELECTION = "selection"
CONFIG_FILE_KEY_DESCRIPTION = "description"
CONFIG_FILE_KEY_PERFORMANCE = "performance"
CONFIG_FILE_KEY_DEPENDENCIES = "dependencies"
CONFIG_FILE_KEY_PACKAGE_LINK = "package_link"
CONFIG_FILE_KEY_MODEL_EXTENSION = "extension"
CONFIG_FILE_KEY_PACKAGE_NAME = "package_name"
CONFIG_FILE_KEY_GENERATOR = "generator"
CONFIG_FILE_KEY_GENERATOR_NAME = "name"
CONFIG_FILE_KEY_IMAGE_SIZE = "image_size"
CONFIG_FILE_KEY_MODEL_NAME = "model_name"
CONFIG_FILE_KEY_GENERATE = "generate_method"
CONFIG_FILE_KEY_GENERATE_NAME = "name"
CONFIG_FILE_KEY_GENERATE_ARGS = "args"
CONFIG_FILE_KEY_GENERATE_ARGS_BASE = "base"
CONFIG_FILE_KEY_GENERATE_ARGS_CUSTOM = "custom"
CONFIG_FILE_KEY_GENERATE_ARGS_MODEL_FILE = "model_file"
CONFIG_FILE_KEY_GENERATE_ARGS_NUM_SAMPLES = "num_samples"
CONFIG_FILE_KEY_GENERATE_ARGS_OUTPUT_PATH = "output_path"
CONFIG_FILE_KEY_GENERATE_ARGS_SAVE_IMAGES = "save_images"
CONFIG_FILE_KEY_GENERATE_ARGS_INPUT_LATENT_VECTOR_SIZE = "input_latent_vector_size"
CONFIG_FILE_KEY_TAGS = "tags"

PACKAGE_EXTENSION = ".zip"
MODEL_ID = "model_id"
DEFAULT_OUTPUT_FOLDER = "output"
INIT_PY_FILE = "__init__.py"
CONFIG_TEMPLATE_FILE_NAME_AND_EXTENSION = "template.json"
TEMPLATE_FOLDER = "templates"
