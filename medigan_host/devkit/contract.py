"""The plugin contract as checks: what ``medigan check`` and :mod:`medigan_host.devkit.testing` run.

Each check is a pure function that returns :class:`CheckResult` values (name, passed, detail, hint). The checks
reuse the host's own machinery: plugin discovery (:mod:`.plugins`), card validation (:mod:`.cards`), loading
(:func:`.models.load`), the sample check every batch goes through (:func:`.samples.check_samples`) and the
condition check (:func:`.conditions.check_condition`). Only the check that a plugin imports no heavy framework at
registration runs in a fresh subprocess, so that modules imported by this process do not hide the answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..cards import ModelCard
from ..errors import ConditionError, FrameworkMissingError, MediganError, MediganUsageError
from ..frameworks import check_device
from ..models import Model, load
from ..plugins import PluginHost, PluginInfo, get_host
from ..registry import ModelEntry
from ..seeding import sample_seeds

#: Modules a plugin module must not import while it registers its models.
HEAVY_MODULES = ("torch", "tensorflow", "keras", "onnxruntime", "jax", "jaxlib")
#: Card fields that are optional for the host but that a complete card fills in.
RECOMMENDED_FIELDS = ("anatomy", "architecture", "dataset")
#: Batch-size invariance holds up to floating-point rounding: float32 images in [0, 1] may differ by this much,
#: integer images by one grey level, and this fraction of mask labels may flip.
FLOAT_TOLERANCE = 1e-3
INTEGER_TOLERANCE = 1
MASK_TOLERANCE = 1e-3

PLUGIN_CHECKS = ("plugin-loads", "registration-is-light", "cards-valid", "ids-unique")
MODEL_CHECKS = ("card-complete", "loader-builds", "output-matches-card", "seeds-deterministic", "batch-invariant",
                "conditions", "weights-verifiable")

InputsFactory = Callable[[ModelCard, Sequence[int]], Any]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one plugin or model; ``hint`` says how to fix a failure."""

    name: str
    subject: str
    passed: bool
    detail: str = ""
    hint: str = ""
    skipped: bool = False

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


def _pass(name: str, subject: str, detail: str = "") -> CheckResult:
    return CheckResult(name, subject, True, detail)


def _fail(name: str, subject: str, detail: str, hint: str) -> CheckResult:
    return CheckResult(name, subject, False, detail, hint)


def _skip(name: str, subject: str, detail: str) -> CheckResult:
    return CheckResult(name, subject, False, detail, skipped=True)


# -- what to check ----------------------------------------------------------------------------------------------------

@dataclass
class Target:
    """The plugins and models one ``medigan check`` run covers."""

    plugins: list[PluginInfo] = field(default_factory=list)
    models: list[ModelEntry] = field(default_factory=list)


def resolve_target(target: str | Path | None, host: PluginHost | None = None) -> Target:
    """What ``target`` names: a plugin project folder, an installed plugin, or a model; ``None`` means everything.

    A model is checked together with the plugin that registered it. Raises MediganUsageError when nothing matches.
    """
    host = host or get_host()
    catalog = host.catalog
    if target is None:
        plugins = list(host.plugins.values())
        return Target(plugins, list(catalog))
    text = str(target).strip()
    path = Path(text).expanduser()
    if (path / "pyproject.toml").is_file() or any(sep in text for sep in ("/", "\\")) or text.startswith("."):
        plugins = [_installed_plugin_of_project(path, host)]
    else:
        plugins = [info for info in host.plugins.values() if _norm(text) in {_norm(info.name), _norm(info.distribution or "")}]
    if plugins:
        names = {info.name for info in plugins}
        return Target(plugins, [entry for entry in catalog if entry.plugin in names])
    try:
        entry = catalog.get(text)
    except MediganUsageError as exc:
        installed = ", ".join(sorted(host.plugins)) or "none"
        raise MediganUsageError(f"{text!r} is not a plugin folder, an installed plugin ({installed}) or a model id: {exc}") from None
    return Target([host.plugins[entry.plugin]], [entry])


def _installed_plugin_of_project(path: Path, host: PluginHost) -> PluginInfo:
    pyproject = path / "pyproject.toml"
    if not pyproject.is_file():
        raise MediganUsageError(f"{str(path)!r} is not a plugin project folder: it has no pyproject.toml "
                                "(give the folder that `medigan new` created, a plugin name, or a model id)")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MediganUsageError(f"{str(pyproject)!r} is not valid TOML: {exc}") from None
    entry_points = project.get("entry-points", {}).get("medigan.plugins", {})
    if not entry_points:
        raise MediganUsageError(f"{str(pyproject)!r} declares no entry point in the group 'medigan.plugins'; add\n"
                                f'[project.entry-points."medigan.plugins"]\nmyplugin = "my_package.plugin"')
    name = next(iter(entry_points))
    info = host.plugins.get(name)
    distribution = project.get("name", "")
    if info is None or (distribution and _norm(info.distribution or distribution) != _norm(distribution)):
        raise MediganUsageError(f"the plugin {name!r} of {str(path)!r} (distribution {distribution!r}) is not installed in "
                                f"this Python ({sys.executable}): run `{Path(sys.executable).name} -m pip install -e "
                                f"{path}` and check again")
    return info


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


# -- plugin checks ----------------------------------------------------------------------------------------------------

def check_plugin(info: PluginInfo, host: PluginHost | None = None) -> list[CheckResult]:
    """The plugin-level checks: it loads, registers without heavy imports, its cards are valid, its ids unique."""
    host = host or get_host()
    subject = info.name
    if not info.loaded or info.load_errors:
        failed = _fail("plugin-loads", subject, "; ".join(info.load_errors) or "not loaded",
                       "fix the import error above; the entry point must name a module with a @medigan_host.hookimpl "
                       "medigan_register_models(register)")
        return [failed, *(_skip(name, subject, "not run: the plugin did not load") for name in PLUGIN_CHECKS[1:])]
    results = [_pass("plugin-loads", subject, f"{info.module} ({info.distribution or info.source} {info.version or ''})".strip())]
    results.append(check_registration_is_light(info))
    staged, error = _registrations(info, host)
    if error:
        results.append(_fail("cards-valid", subject, error, "medigan_register_models must not raise; run it by hand to see why"))
        results.append(_skip("ids-unique", subject, "not run: the hook raised"))
        return results
    if not staged:  # a runner that other plugins' cards name as their loader, or a plugin of feature extractors only
        extractors = _registers_extractors(info, host)
        detail = ("registers no models of its own" + (" (feature extractors only)" if extractors else
                  " (a runner that other plugins' cards name as their loader, or models from a folder setting)")
                  + ": no cards to check")
        results.append(_skip("cards-valid", subject, detail + "; if it should register models, call register(card, loader) "
                                                               "in medigan_register_models"))
        results.append(_skip("ids-unique", subject, "not run: no models registered"))
        return results
    results.append(check_cards_valid(subject, staged))
    results.append(check_ids_unique(subject, staged, host))
    return results


def _registers_extractors(info: PluginInfo, host: PluginHost) -> bool:
    plugin = host.pm.get_plugin(info.name)
    return any(impl.plugin is plugin for impl in host.pm.hook.medigan_register_feature_extractors.get_hookimpls())


def check_registration_is_light(info: PluginInfo) -> CheckResult:
    """Import the plugin module and run its hook in a fresh Python; no heavy framework may appear in sys.modules."""
    name = "registration-is-light"
    if info.source != "entry point":
        return _skip(name, info.name, "registered from code, not through an entry point: nothing to import afresh")
    probe = (
        "import importlib, json, sys\n"
        f"module = importlib.import_module({info.module!r})\n"
        "hook = getattr(module, 'medigan_register_models', None)\n"
        "if hook is not None:\n"
        "    hook(register=lambda card, loader: None)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m, v in sys.modules.items() if v is not None}} & "
        f"{set(HEAVY_MODULES)!r})))\n"  # a None entry blocks an import: nothing was imported
    )
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # what this process can import
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        return _fail(name, info.name, "importing the plugin module and running its hook took over 120 s",
                     "registration runs whenever models are listed: keep it instant, load models in the loader")
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return _fail(name, info.name, f"importing {info.module!r} and running its hook failed in a fresh Python: {tail}",
                     "run `python -c 'import " + info.module + "'` to see the full error")
    heavy = json.loads(done.stdout.strip().splitlines()[-1])
    if heavy:
        return _fail(name, info.name, f"importing {info.module!r} and registering its models imported {', '.join(heavy)}",
                     "move these imports inside the loader function (or the module it names); the hook runs whenever "
                     "models are listed and must stay cheap")
    return _pass(name, info.name, f"imports none of {', '.join(HEAVY_MODULES)}")


def _registrations(info: PluginInfo, host: PluginHost) -> tuple[list[tuple[Any, Any]], str]:
    """Call the plugin's hook and collect what it registers (cards unvalidated), or say why it raised."""
    plugin = host.pm.get_plugin(info.name)
    staged: list[tuple[Any, Any]] = []
    for impl in host.pm.hook.medigan_register_models.get_hookimpls():
        if impl.plugin is plugin:
            try:
                impl.function(register=lambda card, loader: staged.append((card, loader)))
            except Exception as exc:
                return [], f"medigan_register_models raised {type(exc).__name__}: {exc}"
    return staged, ""


def check_cards_valid(subject: str, staged: list[tuple[Any, Any]]) -> CheckResult:
    """Every card the plugin registers validates, and every loader is a callable or an import string."""
    from ..registry import Catalog

    if not staged:
        return _fail("cards-valid", subject, "the hook registered no models",
                     "call register(card, loader) once per model inside medigan_register_models")
    problems = []
    for card, loader in staged:
        problem = Catalog().add(card, loader, plugin=subject)
        if problem:
            problems.append(problem.removesuffix("; model skipped"))
    if problems:
        return _fail("cards-valid", subject, "; ".join(problems),
                     "fix the named field; docs/plugins.md lists every card field and its allowed values")
    return _pass("cards-valid", subject, f"{len(staged)} card(s) valid")


def check_ids_unique(subject: str, staged: list[tuple[Any, Any]], host: PluginHost) -> CheckResult:
    """The plugin's ids are unique among its own models and not taken by another installed plugin."""
    ids = [_card_id(card) for card, _ in staged]
    repeated = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    taken: dict[str, str] = {}
    for other in host.plugins.values():  # every other plugin's registrations, whichever the host kept
        if other.name != subject and other.loaded:
            for card, _ in _registrations(other, host)[0]:
                if _card_id(card) in ids:
                    taken.setdefault(_card_id(card), other.name)
    taken = dict(sorted(taken.items()))
    if repeated or taken:
        parts = [f"registered twice by this plugin: {', '.join(map(repr, repeated))}"] if repeated else []
        parts += [f"{model_id!r} is also registered by plugin {other!r}" for model_id, other in taken.items()]
        return _fail("ids-unique", subject, "; ".join(parts),
                     "model ids are global across all plugins: give each model an id that names its plugin or dataset")
    return _pass("ids-unique", subject, ", ".join(map(str, ids)))


def _card_id(card: Any) -> Any:
    return card.get("id") if isinstance(card, dict) else getattr(card, "id", None)


# -- model checks -----------------------------------------------------------------------------------------------------

def check_model(entry: ModelEntry, device: str = "cpu", *, inputs: InputsFactory | None = None,
                trust_remote_code: bool = False) -> list[CheckResult]:
    """The model-level checks, in order; checks that need a working model are skipped when the loader fails.

    A model whose card says ``remote_code: true`` is loaded only with ``trust_remote_code`` (``--trust-remote-code``,
    or ``MEDIGAN_TRUST_REMOTE_CODE=1``); without it the checks that run the model are skipped with that reason."""
    from ..registry import runs_remote_code
    from ..trust import trusted_by_environment

    card = entry.card
    results = [check_card_complete(card)]
    if runs_remote_code(card) and not (trust_remote_code or trusted_by_environment()):
        reason = ("not run: the model runs code downloaded with it"
                  + (f" ({card.extra['remote_code_source']})" if card.extra.get("remote_code_source") else "")
                  + "; add --trust-remote-code to run the full contract")
        results += [_skip(name, card.id, reason) for name in MODEL_CHECKS[1:-1]]
        results.append(check_weights_verifiable(card))
        return results
    try:
        model = load(entry, device, trust_remote_code=trust_remote_code)
    except FrameworkMissingError as exc:  # not the plugin's fault: this environment lacks the framework
        results.append(_skip("loader-builds", card.id, f"not run: {exc}"))
        results += [_skip(name, card.id, "not run: the model's framework is not installed") for name in MODEL_CHECKS[2:-1]]
        results.append(check_weights_verifiable(card))
        return results
    except MediganError as exc:
        results.append(_fail("loader-builds", card.id, str(exc),
                             "install what the error names, or fix the loader so that loader(card, device) returns an "
                             "object with generate(seeds, *, condition=None, inputs=None)"))
        results += [_skip(name, card.id, "not run: the model did not load") for name in MODEL_CHECKS[2:-1]]
        results.append(check_weights_verifiable(card))
        return results
    results.append(_pass("loader-builds", card.id, f"built on {model.device}"))
    make_inputs = inputs or example_inputs
    seeds = sample_seeds(2024, range(3))
    output = check_output_matches_card(model, seeds, make_inputs)
    results.append(output)
    if not output.passed:
        results += [_skip(name, card.id, "not run: the output does not match the card") for name in MODEL_CHECKS[3:-1]]
    else:
        results.append(check_seeds_deterministic(model, seeds, make_inputs))
        results.append(check_batch_invariant(model, seeds, make_inputs))
        results.append(check_conditions(model, seeds[:2], make_inputs))
    results.append(check_weights_verifiable(card))
    return results


def example_inputs(card: ModelCard, seeds: Sequence[int]) -> Any:
    """Seeded stand-in inputs for image-input models: float32 images in [0, 1], or 0/1 uint8 masks; None for noise."""
    import numpy as np

    if not card.needs_inputs:
        return None
    shape = (*card.image_size, card.channels)
    rows = [np.random.default_rng(seed) for seed in seeds]
    if card.input == "mask":
        return np.stack([rng.integers(0, 2, shape, dtype=np.uint8) for rng in rows])
    return np.stack([rng.random(shape, dtype=np.float32) for rng in rows])


def _generate(model: Model, seeds: Sequence[int], make_inputs: InputsFactory, condition: dict[str, Any] | None = None):
    return model.generate(seeds, condition=condition, inputs=make_inputs(model.card, seeds))


def check_card_complete(card: ModelCard) -> CheckResult:
    """The optional fields that tell users what a model is are filled in."""
    missing = [name for name in RECOMMENDED_FIELDS if not getattr(card, name)]
    if len(card.description) < 20:
        missing.append("description (at least a sentence)")
    if missing:
        return _fail("card-complete", card.id, f"missing or empty: {', '.join(missing)}",
                     "fill these card fields in; write 'none (procedural)' or 'untrained' rather than leaving them out")
    return _pass("card-complete", card.id, f"{card.modality}, {card.anatomy}, {card.architecture}, trained on {card.dataset}")


def check_output_matches_card(model: Model, seeds: Sequence[int], make_inputs: InputsFactory) -> CheckResult:
    """One batch, checked by the host against the card (shape, dtype, value range, channels, masks); not blank."""
    import numpy as np

    card = model.card
    try:
        samples = _generate(model, seeds, make_inputs)
    except MediganError as exc:
        return _fail("output-matches-card", card.id, str(exc),
                     "return images as (N, H, W, C) or (N, D, H, W, C) numpy arrays of uint8, uint16 or float32 in [0, 1]"
                     + (", and integer masks" if card.has_masks else "") + " exactly as the card declares")
    constant = [i for i, image in enumerate(samples.images) if image.size and np.all(image == image.flat[0])]
    if constant:
        return _fail("output-matches-card", card.id, f"sample(s) {constant} are a single constant value",
                     "the generator returned blank images: check the output scaling (float32 must span [0, 1])")
    images = samples.images
    detail = f"{images.shape} {images.dtype}, values {float(images.min()):.4g}..{float(images.max()):.4g}"
    if samples.masks is not None:
        detail += f"; masks {samples.masks.shape} {samples.masks.dtype}, labels {sorted(np.unique(samples.masks).tolist())[:8]}"
    return _pass("output-matches-card", card.id, detail)


def check_seeds_deterministic(model: Model, seeds: Sequence[int], make_inputs: InputsFactory) -> CheckResult:
    """The same seed gives the same sample (again, and twice in one batch); distinct seeds give distinct samples."""
    card = model.card
    name = "seeds-deterministic"
    first = _generate(model, seeds, make_inputs)
    again = _generate(model, seeds, make_inputs)
    difference = _difference(first, again)
    if difference:
        return _fail(name, card.id, f"generating seeds {list(seeds)} twice gave different samples: {difference}",
                     "draw all randomness from the seed (medigan_host.latents(seeds, shape), numpy default_rng(seed)), "
                     "never from global random state or the clock")
    twin = _generate(model, [seeds[0], seeds[0]], make_inputs)
    difference = _difference(_row(twin, 0), _row(twin, 1))
    if difference:
        return _fail(name, card.id, f"seed {seeds[0]} given twice in one batch gave two different samples: {difference}",
                     "sample i must depend only on seeds[i]: seed each sample's noise separately, not the batch's")
    if not card.needs_inputs and _identical(_row(first, 0), _row(first, 1)):
        return _fail(name, card.id, f"seeds {seeds[0]} and {seeds[1]} gave identical samples",
                     "the generator ignores its seeds: derive each sample's latent vector from its seed")
    return _pass(name, card.id, f"seeds {list(seeds)} reproduce, a repeated seed repeats its sample")


def check_batch_invariant(model: Model, seeds: Sequence[int], make_inputs: InputsFactory) -> CheckResult:
    """A batch of three seeds equals the same seeds generated one at a time (up to floating-point rounding)."""
    card = model.card
    together = _generate(model, seeds, make_inputs)
    difference = ""
    inputs = make_inputs(card, seeds)
    for i, seed in enumerate(seeds):
        alone = model.generate([seed], inputs=None if inputs is None else inputs[i:i + 1])
        difference = difference or _difference(_row(together, i), alone)
    if difference:
        return _fail("batch-invariant", card.id, f"seeds generated in one batch differ from the same seeds one at a time: "
                     f"{difference}", "sample i must depend only on seeds[i] (and inputs[i]): no batch statistics "
                     "(batch norm in training mode), no noise drawn for the batch as a whole")
    return _pass("batch-invariant", card.id, f"batch of {len(seeds)} equals one at a time")


def check_conditions(model: Model, seeds: Sequence[int], make_inputs: InputsFactory) -> CheckResult:
    """Every declared condition value is accepted (and changes the samples); undeclared ones raise ConditionError."""
    card = model.card
    name = "conditions"
    for key, values in card.conditions.items():
        outputs = []
        for value in values:
            try:
                outputs.append(_generate(model, seeds, make_inputs, {key: value}))
            except MediganError as exc:
                return _fail(name, card.id, f"condition {key}={value!r} is declared on the card but failed: {exc}",
                             "accept every value the card lists under conditions, or remove the value from the card")
        if not card.needs_inputs and all(_identical(outputs[0], other) for other in outputs[1:]):
            return _fail(name, card.id, f"condition {key!r} has no effect: all of {list(values)} gave the same samples",
                         "pass the condition to the network (e.g. one-hot encoded beside the latent vector), "
                         "or remove it from the card")
    rejected = [({"undeclared_condition": "x"}, "an undeclared condition")]
    free = set(card.extra.get("free_text_conditions") or ())  # any text is a value of those
    rejected += [({key: "not-a-declared-value"}, f"a value of {key!r} the card does not list") for key in card.conditions
                 if key not in free]
    for condition, what in rejected:
        try:
            _generate(model, seeds, make_inputs, condition)  # the host's check_condition runs first
        except ConditionError:
            continue
        except MediganError as exc:
            return _fail(name, card.id, f"{what} raised {type(exc).__name__} instead of ConditionError: {exc}",
                         "leave condition checks to the host; generate() receives only declared values")
        return _fail(name, card.id, f"{what} ({condition}) was accepted", "declare every condition on the card")
    declared = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in card.conditions.items()) or "none declared"
    return _pass(name, card.id, f"{declared}; undeclared conditions are rejected")


def check_weights_verifiable(card: ModelCard) -> CheckResult:
    """Weights entries are well formed (the card guarantees them); files on this disk match their sha256.

    Files shipped in a package (``package://``) or on a local path (``file://``) are verified where they lie; a
    downloadable file (a URL, or a DOI record's file) is verified when it is in the cache, against the card's sha256
    or the one recorded when it was checked against its record, and otherwise when it is downloaded. Nothing is
    fetched.
    """
    from ..errors import WeightsError
    from ..weights import expected_sha256, fetch_weights, model_folder, sha256_of

    name = "weights-verifiable"
    if not card.weights:
        return _pass(name, card.id, "no weights entries (the plugin builds or ships its network without declaring a file)")
    notes = []
    for entry in card.weights:
        filename = entry["filename"]
        if "url" in entry and urlparse(entry["url"]).scheme in ("package", "file"):
            try:
                path = fetch_weights(card, filename, progress=False)
            except WeightsError as exc:
                return _fail(name, card.id, str(exc), "ship the file where the url points, and put its sha256 and size in "
                                                      "the card (`sha256sum FILE`)")
            notes.append(f"{filename}: sha256 matches ({_bytes(path)})")
            continue
        cached = model_folder(card) / filename
        if not cached.is_file():
            notes.append(f"{filename}: not in the cache; its sha256 is checked when it is downloaded (`medigan fetch {card.id}`)")
            continue
        expected = expected_sha256(card, entry)
        if expected is None:
            notes.append(f"{filename}: in the cache without a recorded sha256; it is checked against its record on first use")
            continue
        actual = sha256_of(cached)
        if actual != expected:
            return _fail(name, card.id, f"cached {cached} has sha256 {actual}, expected {expected}",
                         f"if the card is right, remove the file (`medigan cache clear {card.id}`) and fetch it again; if the "
                         "published file changed, publish it under a new version with its new sha256")
        notes.append(f"{filename}: cached copy's sha256 matches ({_bytes(cached)})")
    return _pass(name, card.id, "; ".join(notes))


def _bytes(path: Path) -> str:
    return f"{path.stat().st_size:,} bytes"


# -- comparing samples ------------------------------------------------------------------------------------------------

def _row(samples: Any, i: int) -> Any:
    from ..samples import Samples

    return Samples(samples.images[i:i + 1], None if samples.masks is None else samples.masks[i:i + 1])


def _identical(a: Any, b: Any) -> bool:
    """True when two sample batches are bit for bit the same (images and masks)."""
    import numpy as np

    same_masks = (a.masks is None) == (b.masks is None) and (a.masks is None or np.array_equal(a.masks, b.masks))
    return np.array_equal(a.images, b.images) and same_masks


def _difference(a: Any, b: Any) -> str:
    """An empty string when two sample batches agree up to rounding, else how much they differ."""
    import numpy as np

    if a.images.shape != b.images.shape:
        return f"shapes {a.images.shape} and {b.images.shape}"
    if a.images.dtype.kind == "f":
        worst = float(np.max(np.abs(a.images.astype(np.float64) - b.images.astype(np.float64)), initial=0.0))
        if not worst <= FLOAT_TOLERANCE:
            return f"images differ by up to {worst:.3g} (tolerance {FLOAT_TOLERANCE})"
    else:
        worst = int(np.max(np.abs(a.images.astype(np.int64) - b.images.astype(np.int64)), initial=0))
        if worst > INTEGER_TOLERANCE:
            return f"images differ by up to {worst} grey levels (tolerance {INTEGER_TOLERANCE})"
    if a.masks is not None and b.masks is not None:
        flipped = float(np.mean(a.masks != b.masks)) if a.masks.size else 0.0
        if flipped > MASK_TOLERANCE:
            return f"{flipped:.2%} of mask labels differ (tolerance {MASK_TOLERANCE:.1%})"
    return ""


# -- running everything -----------------------------------------------------------------------------------------------

def iter_checks(target: str | Path | None = None, device: str = "cpu", *,
                inputs: InputsFactory | None = None, trust_remote_code: bool = False) -> Iterator[CheckResult]:
    """Every check for ``target`` (plugin folder, plugin name, model id, or everything installed), as each finishes.

    ``inputs(card, seeds)`` makes the inputs of image-input models (default :func:`example_inputs`).
    Usage errors (unknown target, bad device) are raised before the first result.
    """
    check_device(device)
    host = get_host()
    resolved = resolve_target(target, host)

    def results() -> Iterator[CheckResult]:
        for info in resolved.plugins:
            yield from check_plugin(info, host)
        for entry in resolved.models:
            yield from check_model(entry, device, inputs=inputs, trust_remote_code=trust_remote_code)

    return results()


def run_checks(target: str | Path | None = None, device: str = "cpu", *, inputs: InputsFactory | None = None,
               trust_remote_code: bool = False) -> list[CheckResult]:
    """:func:`iter_checks` as a list."""
    return list(iter_checks(target, device, inputs=inputs, trust_remote_code=trust_remote_code))


def all_passed(results: Iterable[CheckResult]) -> bool:
    """True when there is at least one result and every one passed (a skipped check is not a pass)."""
    results = list(results)
    return bool(results) and all(r.passed for r in results)
