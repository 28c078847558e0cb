"""Exceptions raised by medigan. Every message says what was wrong and what to do next."""

from __future__ import annotations


class MediganError(Exception):
    """Base class of all medigan errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class MediganUsageError(MediganError, ValueError):
    """The caller asked for something that cannot be done as asked (CLI exit status 2)."""

    exit_code = 2


class UnknownModelError(MediganUsageError, LookupError):
    """No installed model has the requested id."""

    def __init__(self, model: str, suggestions: list[str], available: int, *, empty_hint: str | None = None,
                 elsewhere: str | None = None) -> None:
        self.model = model
        self.suggestions = suggestions
        #: Which known, not installed plugins serve the model and how to install them (medigan_host.known_plugins).
        self.elsewhere = elsewhere
        close = "did you mean " + ", ".join(repr(s) for s in suggestions) + "?" if suggestions else ""
        if elsewhere:
            hint = elsewhere + (f". Or {close}" if close else "") + (f". {empty_hint}." if empty_hint else "")
        elif suggestions:
            hint = close
        elif available:
            hint = "run `medigan list` to see the installed models."
        else:  # no models at all: the catalog's hint (install a plugin …) when it has one
            hint = f"{empty_hint or 'no models are installed: install a plugin, then run `medigan list`'}."
        super().__init__(f"unknown model {model!r}: {hint}")


class CardError(MediganError, ValueError):
    """A model card is invalid; names the plugin, the model and the field."""

    def __init__(self, field: str, message: str, *, model: str | None = None, plugin: str | None = None) -> None:
        self.field = field
        self.model = model
        self.plugin = plugin
        self.reason = message
        where = []
        if plugin:
            where.append(f"plugin {plugin!r}")
        if model:
            where.append(f"model {model!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix + ': ' if prefix else ''}invalid model card field {field!r}: {message}")

    def located(self, *, model: str | None = None, plugin: str | None = None) -> CardError:
        """The same error with the plugin and model it came from filled in."""
        return CardError(self.field, self.reason, model=self.model or model, plugin=self.plugin or plugin)


class ConditionError(MediganUsageError):
    """A condition is malformed, undeclared by the card, or has a value the card does not allow."""


class OutputError(MediganUsageError):
    """The output folder cannot be used as asked (not empty, not a folder, wrong run to resume)."""


class OutputLockedError(MediganError):
    """Another generation is writing into the same output folder."""


class FrameworkMissingError(MediganError, ImportError):
    """The model's framework (torch, tensorflow, onnxruntime …) is not installed."""


class DeviceWarning(UserWarning):
    """A device was asked for that the model cannot use (a NumPy model and ``--device cuda``): it runs on the CPU."""


class PluginError(MediganError):
    """A plugin's loader or generator broke the plugin contract."""


class WeightsError(MediganError):
    """A model's weights could not be downloaded, found or verified; says which file to put where."""


class DeviceError(MediganUsageError):
    """The requested device (cuda, cuda:N, mps) is not available to the model's framework."""


class DiskFullError(MediganError):
    """The disk (or quota) of an output folder or cache is full; what was written before is intact."""
