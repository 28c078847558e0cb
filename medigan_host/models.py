"""Loading a model: resolve its loader lazily, build the generator, and check what it returns."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .cards import ModelCard
from .conditions import check_condition
from .errors import MediganError, MediganUsageError, PluginError
from .frameworks import missing_module_error, require_packages, resolve_device
from .protocols import Generator, LatentGenerator, satisfies
from .registry import Loader, ModelEntry, runs_remote_code
from .samples import Samples, check_samples
from .trust import granted, require_trust

#: Seconds a model's loader, and each call of its generator, may run before that model is failed; unset or 0: no limit.
CALL_TIMEOUT_ENV = "MEDIGAN_CALL_TIMEOUT"
T = TypeVar("T")


def call_timeout() -> float | None:
    """``MEDIGAN_CALL_TIMEOUT`` in seconds; None (no limit: the call runs in the calling thread) when unset or 0."""
    value = os.environ.get(CALL_TIMEOUT_ENV, "").strip()
    if not value:
        return None
    from .hookcalls import parse_seconds

    seconds = parse_seconds(value)
    if seconds is None:
        raise MediganUsageError(f"{CALL_TIMEOUT_ENV}={value!r} is not a number of seconds; give the seconds a model's "
                                "loader and each generator call may take, or 0 for no limit")
    return seconds or None


def call_plugin(call: Callable[[], T], where: str, doing: str) -> T:
    """Run plugin code: what it returns, or its ``Exception`` as raised (callers word it).

    Anything else it raises (``SystemExit``, ``KeyboardInterrupt`` …) and overrunning ``MEDIGAN_CALL_TIMEOUT``
    become a :class:`PluginError`: that model's failure, never the host's.
    """
    from .hookcalls import call_each_with_timeout

    ((kind, value),) = call_each_with_timeout([call], call_timeout(), "medigan model call")
    if kind == "value":
        return value
    if kind == "timeout":
        raise PluginError(f"{where} did not finish {doing} within {value:g} s ({CALL_TIMEOUT_ENV} or --timeout), so it "
                          "was abandoned; raise the limit for a slow model (0: no limit), or fix the plugin")
    if isinstance(value, Exception):
        raise value
    cause = f"sys.exit({value.code!r})" if isinstance(value, SystemExit) else type(value).__name__
    raise PluginError(f"{where} ended with {cause} while {doing}: a plugin must raise an exception, not end the process; "
                      "that model failed (fix or uninstall the plugin)") from value


def resolve_loader(loader: Loader, where: str) -> Callable[..., Any]:
    """Import an ``"package.module:function"`` loader string (callables are returned as they are)."""
    if callable(loader):
        return loader
    module_name, _, attr = loader.partition(":")

    def find() -> Any:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    try:
        obj = call_plugin(find, where, f"importing its loader {loader!r}")
    except ImportError as exc:
        missing = missing_module_error(exc, where, module_name) if isinstance(exc, ModuleNotFoundError) else None
        if missing is not None:
            raise missing from exc
        raise PluginError(f"{where}: cannot import loader {loader!r}: {exc}; reinstall the plugin or its dependencies") from exc
    except AttributeError as exc:
        raise PluginError(f"{where}: loader {loader!r} does not exist: {exc}; the plugin's card points at a missing function") from exc
    except MediganError:
        raise
    except Exception as exc:
        raise PluginError(f"{where}: importing loader {loader!r} raised {type(exc).__name__}: {exc}; fix or reinstall "
                          "the plugin") from exc
    if not callable(obj):
        raise PluginError(f"{where}: loader {loader!r} is not callable")
    return obj


class Model:
    """A loaded model: call :meth:`generate` with per-sample seeds; outputs are checked against the card."""

    def __init__(self, entry: ModelEntry, generator: Any, device: str, *, runs_downloaded_code: bool = False) -> None:
        self.entry = entry
        self.generator = generator
        self.device = device
        #: True when its loader asked for the user's trust (it runs code downloaded with the model), or the card says
        #: ``remote_code: true``: then every later call is checked for trust too (:func:`.trust.require_call_trust`).
        self.runs_downloaded_code = runs_downloaded_code

    @property
    def card(self) -> ModelCard:
        return self.entry.card

    def __repr__(self) -> str:
        return f"<medigan Model {self.card.id!r} v{self.card.version} from plugin {self.entry.plugin!r} on {self.device}>"

    @property
    def options(self) -> tuple[str, ...]:
        """Names of the extra keyword options the generator understands (its ``options`` attribute, e.g. the
        original medigan's ``image_size`` or ``gpu_id``); :meth:`generate` passes them on as ``options=``."""
        declared = getattr(self.generator, "options", ())
        if isinstance(declared, str) or not isinstance(declared, (tuple, list, set, frozenset)):
            return ()
        return tuple(str(name) for name in declared)

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None,
                 options: Mapping[str, Any] | None = None) -> Samples:
        """One sample per seed; ``condition`` is checked against the card, ``inputs`` needed for image-input models.

        ``options``: extra keyword options, only those the generator declares in :attr:`options`; they reach
        it as ``generate(seeds, condition=, inputs=, options=)`` (never passed when there are none)."""
        seeds = [int(s) for s in seeds]
        condition = check_condition(self.card, condition)
        if inputs is None and ships_inputs(self.card):
            inputs = self.default_inputs(len(seeds))
            if len(inputs) < len(seeds):
                raise MediganUsageError(f"model {self.card.id!r} ships {len(inputs)} sample inputs, fewer than the "
                                        f"{len(seeds)} samples asked for; give inputs= (--inputs)")
        check_inputs(self.card, inputs, len(seeds))
        where = f"model {self.card.id!r} (plugin {self.entry.plugin!r})"
        extra: dict[str, Any] = {}
        if options:
            unknown = sorted(set(options) - set(self.options))
            if unknown:
                raise MediganUsageError(f"model {self.card.id!r} does not understand the option(s) {', '.join(unknown)}; "
                                        f"it takes: {', '.join(self.options) or 'none'}")
            extra = {"options": dict(options)}
        try:
            raw = call_plugin(lambda: self.generator.generate(seeds, condition=condition, inputs=inputs, **extra), where,
                              f"generating seeds {seeds[:3]}{'…' if len(seeds) > 3 else ''}")
        except MediganError:
            raise
        except Exception as exc:
            raise PluginError(f"{where} failed while generating seeds {seeds[:3]}{'…' if len(seeds) > 3 else ''}: "
                              f"{type(exc).__name__}: {exc}") from exc
        samples = check_samples(Samples.coerce(raw, where), self.card, len(seeds), where)
        samples.seeds = seeds
        return samples

    @property
    def latent_shape(self) -> tuple[int, ...] | None:
        """The per-sample latent shape of a model that accepts explicit latents, else None."""
        if not satisfies(self.generator, LatentGenerator):  # the optional latent interface (medigan_host.protocols)
            return None
        shape = getattr(self.generator, "latent_shape", None)
        if shape is None or not callable(getattr(self.generator, "generate_from_latents", None)):
            return None
        return tuple(int(s) for s in shape)

    def require_latents(self) -> tuple[int, ...]:
        """The latent shape, or a MediganUsageError for models that take no explicit latents."""
        shape = self.latent_shape
        if shape is None:
            raise MediganUsageError(f"model {self.card.id!r} does not accept explicit latents (its generator has no "
                                    "latent_shape and generate_from_latents), so it cannot be interpolated or explored; "
                                    "`medigan show` without --interpolate/--explore shows its samples")
        return shape

    def default_inputs(self, n: int | None = None) -> Any:
        """The first ``n`` (all when None) of the sample inputs the model ships (its generator's ``default_inputs()``),
        for image-input models whose card says ``default_inputs: true``; fewer when it ships fewer."""
        import numpy as np

        own = getattr(self.generator, "default_inputs", None)
        if not ships_inputs(self.card) or not callable(own):
            require_inputs(self.card, None)  # raises: this model needs inputs given
            raise MediganUsageError(f"model {self.card.id!r} ships no sample inputs; give inputs= (--inputs)")
        where = f"model {self.card.id!r} (plugin {self.entry.plugin!r})"
        try:
            arrays = call_plugin(own, where, "reading its sample inputs")
        except MediganError:
            raise
        except Exception as exc:
            raise PluginError(f"{where} failed while reading its sample inputs: {type(exc).__name__}: {exc}") from exc
        if arrays is None or not len(arrays):
            raise PluginError(f"{where} ships no sample inputs after all; give inputs= (--inputs)")
        arrays = np.asarray(arrays)
        return arrays if n is None else arrays[:n]

    def latents_of(self, seeds: Sequence[int]) -> Any:
        """The latents ``generate(seeds)`` uses: the generator's ``latents_of`` or ``medigan_host.latents``."""
        import numpy as np

        from .seeding import latents

        shape = self.require_latents()
        seeds = [int(s) for s in seeds]
        own = getattr(self.generator, "latents_of", None)
        if not callable(own):
            return latents(seeds, shape)
        try:
            z = np.asarray(call_plugin(lambda: own(seeds), f"model {self.card.id!r}", "in latents_of"), dtype=np.float32)
        except MediganError:
            raise
        except Exception as exc:
            raise PluginError(f"model {self.card.id!r}: latents_of failed for seeds {seeds[:3]}: {type(exc).__name__}: {exc}") from exc
        if tuple(z.shape) != (len(seeds), *shape):
            raise PluginError(f"model {self.card.id!r}: latents_of returned shape {tuple(z.shape)}, expected {(len(seeds), *shape)}")
        return z

    def generate_from_latents(self, latents: Any, *, condition: Mapping[str, Any] | None = None) -> Samples:
        """One sample per latent row (shape ``(N, *latent_shape)``); checked against the card like :meth:`generate`."""
        import numpy as np

        shape = self.require_latents()
        z = np.asarray(latents, dtype=np.float32)
        if z.ndim == len(shape):
            z = z[None]
        if tuple(z.shape[1:]) != shape or not len(z):
            raise MediganUsageError(f"model {self.card.id!r} takes latents of shape (N, {', '.join(map(str, shape))}), "
                                    f"got {tuple(np.shape(latents))}")
        if not np.all(np.isfinite(z)):
            raise MediganUsageError(f"model {self.card.id!r}: latents contain NaN or infinite values")
        condition = check_condition(self.card, condition)
        where = f"model {self.card.id!r} (plugin {self.entry.plugin!r})"
        try:
            raw = call_plugin(lambda: self.generator.generate_from_latents(z, condition=condition), where,
                              "generating from latents")
        except MediganError:
            raise
        except Exception as exc:
            raise PluginError(f"{where} failed while generating from latents: {type(exc).__name__}: {exc}") from exc
        return check_samples(Samples.coerce(raw, where), self.card, len(z), where)


def ships_inputs(card: ModelCard) -> bool:
    """True for image-input models that ship sample inputs of their own (``default_inputs: true`` on the card), used
    when none are given, as the original medigan models used the images in their package."""
    return card.needs_inputs and card.extra.get("default_inputs") is True


def require_inputs(card: ModelCard, inputs: Any) -> None:
    """Image-input models need inputs (unless they ship their own); noise-input models take none."""
    if card.needs_inputs and inputs is None and not ships_inputs(card):
        raise MediganUsageError(f"model {card.id!r} translates {card.input} inputs, one per sample: pass inputs= in Python, "
                                "--inputs FILE_OR_FOLDER (a .npy array or a folder of images) on the command line")
    if not card.needs_inputs and inputs is not None:
        raise MediganUsageError(f"model {card.id!r} generates from noise and takes no inputs; drop inputs= (--inputs)")


def check_inputs(card: ModelCard, inputs: Any, n: int) -> None:
    """Image-input models need exactly one input per sample; noise-input models take none."""
    require_inputs(card, inputs)
    if card.needs_inputs and inputs is not None and len(inputs) != n:
        raise MediganUsageError(f"model {card.id!r} got {len(inputs)} inputs for {n} samples; give one input per sample")


def _numpy_device(card: ModelCard, device: str) -> str:
    """NumPy computes on the CPU: a GPU asked for is not used, and the caller is told so (once per load)."""
    import warnings

    from .errors import DeviceWarning
    from .frameworks import check_device

    asked = check_device(device)
    if asked not in ("auto", "cpu"):
        warnings.warn(f"model {card.id!r} is a NumPy model and runs on the CPU; device {asked!r} does not apply to it "
                      "(use --device cpu or auto to silence this)", DeviceWarning, stacklevel=3)
    return "cpu"


def _distribution(entry: ModelEntry) -> str | None:
    """The distribution of the plugin that registered ``entry`` (None for a plugin registered in this process)."""
    from .plugins import get_host

    info = get_host().plugins.get(entry.plugin)
    return info.distribution if info is not None else None


def load(entry: ModelEntry, device: str = "auto", *, trust_remote_code: bool = False) -> Model:
    """Import the model's framework and loader, and build its generator on ``device``.

    Models whose card says ``remote_code: true`` load only with ``trust_remote_code=True`` or
    ``MEDIGAN_TRUST_REMOTE_CODE=1`` (see :mod:`medigan_host.trust`)."""
    card = entry.card
    where = f"model {card.id!r} (plugin {entry.plugin!r})"
    require_trust(card, trust_remote_code)
    require_packages(card.framework, card.id, entry.loader, _distribution(entry))
    concrete = _numpy_device(card, device) if card.framework == "numpy" else resolve_device(device, card.framework)
    loader = resolve_loader(entry.loader, where)
    try:
        def build() -> Any:
            with granted(card, trust_remote_code) as grant:  # a loader running downloaded code checks this itself
                asked.append(grant)
                return loader(card, concrete)

        asked: list = []
        generator = call_plugin(build, where, f"loading on device {concrete!r}")
    except MediganError:
        raise
    except ModuleNotFoundError as exc:
        own = entry.loader if isinstance(entry.loader, str) else getattr(loader, "__module__", "")
        missing = missing_module_error(exc, where, own.split(":")[0])
        raise (missing or PluginError(f"{where}: its loader failed: {exc}; reinstall the plugin")) from exc
    except Exception as exc:
        raise PluginError(f"{where}: its loader failed on device {concrete!r}: {type(exc).__name__}: {exc}") from exc
    if not satisfies(generator, Generator) or not callable(getattr(generator, "generate", None)):
        raise PluginError(f"{where}: its loader returned {type(generator).__name__}, which has no generate(seeds, ...) method "
                          "(see medigan_host.protocols.Generator)")
    return Model(entry, generator, concrete,
                 runs_downloaded_code=runs_remote_code(card) or any(grant.asked for grant in asked))
