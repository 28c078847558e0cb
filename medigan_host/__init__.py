"""medigan: pretrained generative models for medical image synthesis, from installable plugins.

Listing and searching models imports no deep-learning framework; a model's framework is imported only
when the model is loaded.
"""

from ._version import __version__
from .api import get_card, list_models, load_model
from .cards import ModelCard
from .engine import RunResult, generate
from .errors import (
    CardError,
    ConditionError,
    FrameworkMissingError,
    MediganError,
    MediganUsageError,
    OutputError,
    OutputLockedError,
    PluginError,
    UnknownModelError,
)
from .hookspecs import hookimpl, hookspec
from .models import Model
from .plugins import ENTRY_POINT_GROUP, PluginInfo, PluginWarning, list_plugins, register_plugin, reset_host, unregister_plugin
from .samples import Samples
from .seeding import latents, sample_seed
from .writers import Writer, register_writer

__all__ = [
    "CardError", "ConditionError", "ENTRY_POINT_GROUP", "FrameworkMissingError", "MediganError", "MediganUsageError",
    "Model", "ModelCard", "OutputError", "OutputLockedError", "PluginError", "PluginInfo", "PluginWarning", "RunResult",
    "Samples", "UnknownModelError", "Writer", "__version__", "generate", "get_card", "hookimpl", "hookspec", "latents",
    "list_models", "list_plugins", "load_model", "register_plugin", "register_writer", "reset_host", "sample_seed",
    "unregister_plugin",
]
