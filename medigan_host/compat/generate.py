"""Generation for the compatible API: the original's keyword options, in-memory lists, and reusable
generate functions that continue their run."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from .._version import __version__
from ..atomic import write_text
from ..errors import MediganUsageError
from ..generation.outputs import MANIFEST, RUN_FILE
from ..models import Model, ships_inputs
from ..registry import ModelEntry

logger = logging.getLogger("medigan_host")

#: Where ``generate(..., save_images=True)`` writes when no output_path is given, as the original did.
DEFAULT_OUTPUT_FOLDER = "output"
#: Keyword arguments the generation methods take besides the original ones (``format`` only when saving).
GENERATE_OPTIONS = ("seed", "condition", "inputs", "input_path", "batch_size", "device", "trust_remote_code", "format")
#: The hidden folder beside ``output_path`` that holds medigan's manifest and run record of a compat run:
#: ``<parent>/.<name>.medigan/``, so that ``output_path`` holds only the samples, as in the original.
SIDECAR_SUFFIX = ".medigan"


class ModelExecutors(Protocol):
    """What a :class:`GenerateFunction` needs of the ``Generators`` that made it: the models it has loaded (a
    Protocol, so that this module does not import ``generators``, which imports it)."""

    model_executors: list[Model]

    def find_model_executor_by_id(self, model_id: str | int) -> Model | None: ...


class GenerateFunction:
    """What ``generate(..., is_gen_function_returned=True)`` returns: call it (with optional overrides) to
    generate the run's next ``num_samples`` samples, so repeated calls never repeat a sample."""

    def __init__(self, generators: ModelExecutors, entry: ModelEntry, num_samples: int, output_path: str | None,
                 save_images: bool, options: dict[str, Any], model_options: dict[str, Any] | None = None) -> None:
        self.generators = generators
        self.entry = entry
        self.model_id = entry.id
        self.num_samples = num_samples
        self.save_images = save_images
        self.options = options
        self.model_options = dict(model_options or {})
        self.output_path = Path(output_path) if output_path is not None else None
        self._done: dict[Any, int] = {}  # run -> samples generated so far

    def __repr__(self) -> str:
        return f"<medigan generate function of {self.model_id!r}, {self.num_samples} samples per call>"

    def __call__(self, **overrides: Any) -> list | None:
        num_samples = overrides.pop("num_samples", self.num_samples)
        output_path = overrides.pop("output_path", self.output_path)
        new_options, new_model_options = generate_options(self.entry, overrides, saving=self.save_images)
        options = {**self.options, **new_options}
        model_options = {**self.model_options, **new_model_options}
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise MediganUsageError(f"num_samples must be a whole number of at least 1, got {num_samples!r}")
        if self.save_images:
            return self._save(num_samples, output_path, options, model_options)
        card = self.entry.card
        return [(original_array(card, sample[0]), sample[1]) if isinstance(sample, tuple) else original_array(card, sample)
                for _, _, sample in self._generate(num_samples, options, model_options, None)]

    def _run_key(self, options: dict[str, Any], where: Any = None) -> str:
        return json.dumps([str(where), options.get("seed", 0), options.get("condition")], sort_keys=True, default=str)

    def _generate(self, num_samples: int, options: dict[str, Any], model_options: dict[str, Any],
                  where: Any) -> Iterator[tuple[int, int, Any]]:
        """``(index, seed, sample)`` for the run's next ``num_samples`` samples; a sample is an array, or an
        ``(image, mask)`` pair for models with masks."""
        from ..conditions import check_condition
        from ..generation.engine import DEFAULT_BATCH_SIZE, batches
        from ..seeding import check_seed, sample_seeds

        card = self.entry.card
        seed = check_seed(options.get("seed", 0))
        condition = check_condition(card, options.get("condition"))
        inputs = options.get("inputs")
        if card.needs_inputs and inputs is None and not ships_inputs(card):
            raise MediganUsageError(f"model {card.id!r} translates {card.input} inputs: pass inputs= or input_path=")
        model = self._model(options.get("device", "auto"), options.get("trust_remote_code") is True)
        if card.needs_inputs:
            if inputs is None:  # the sample inputs shipped in the model's package, as the original used them
                inputs = model.default_inputs(num_samples)
            inputs = inputs[:num_samples]  # the first N inputs (the original's translate_all_images=False)
            num_samples = len(inputs)
        understood = understood_options(model, model_options)
        key = self._run_key(options, where)
        start = 0 if card.needs_inputs else self._done.get(key, 0)
        for chunk in batches(range(num_samples), options.get("batch_size", DEFAULT_BATCH_SIZE)):
            indices = [start + i for i in chunk]
            samples = model.generate(sample_seeds(seed, indices), condition=condition, options=understood,
                                     inputs=None if inputs is None else [inputs[i] for i in chunk])
            for row, index in enumerate(indices):
                image = samples.images[row]
                yield index, samples.seeds[row], (image, samples.masks[row]) if samples.masks is not None else image
            if not card.needs_inputs:
                self._done[key] = indices[-1] + 1

    def _model(self, device: str, trusted: bool = False) -> Model:
        from ..models import load
        from ..trust import require_call_trust

        existing = self.generators.find_model_executor_by_id(self.model_id)
        if existing is not None and device in ("auto", existing.device):
            # trust is this call's: a model loaded by an earlier, trusted call does not run downloaded code without it
            require_call_trust(existing.card, getattr(existing, "runs_downloaded_code", False), trusted)
            return existing

        # a model that runs code downloaded with it loads only when trusted (or MEDIGAN_TRUST_REMOTE_CODE=1)
        model = load(self.entry, device, trust_remote_code=trusted)
        if existing is None:
            self.generators.model_executors.append(model)
        return model

    def _save(self, num_samples: int, output_path: Any, options: dict[str, Any], model_options: dict[str, Any]) -> None:
        """Write one file per sample straight into the folder (``0.png``, ``1.png`` …, masks beside them as
        ``0_mask.png`` …), as the original did; the manifest and run record go to the sidecar folder."""
        from ..atomic import write_bytes
        from ..formats.writers import get_writer
        from ..generation.engine import default_format

        folder = Path(output_path) if output_path is not None else _default_output(self.entry.id)
        if output_path is None and self.output_path is None:
            self.output_path = folder  # later calls extend this run
        card = self.entry.card
        writer = get_writer(options.get("format") or default_format(card))
        writer.check(card)
        folder.mkdir(parents=True, exist_ok=True)
        sidecar = sidecar_folder(folder)
        sidecar.mkdir(exist_ok=True)
        where = folder.resolve()
        continuing = self._done.get(self._run_key(options, where), 0) > 0 and not card.needs_inputs
        if not continuing:
            present = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
            if present:
                logger.warning("%s already holds %d file(s); writing the samples of %s there again (files of the same "
                               "name are replaced, as the original medigan did)", folder, len(present), self.entry.id)
            (sidecar / MANIFEST).unlink(missing_ok=True)
        seed = options.get("seed", 0)
        common = {"model": card.id, "model_version": card.version, "plugin": self.entry.plugin,
                  "plugin_version": self.entry.plugin_version, "host_version": __version__,
                  "condition": options.get("condition")}
        written = 0
        with open(sidecar / MANIFEST, "a", encoding="utf-8") as manifest:
            for index, sample_seed, sample in self._generate(num_samples, options, model_options, where):
                arrays = {"image": sample[0], "mask": sample[1]} if isinstance(sample, tuple) else {"image": sample}
                files, digests = {}, {}
                for kind, array in arrays.items():
                    context = {"card": card, "index": index, "seed": sample_seed, "run_seed": seed, **common}
                    data = writer.encode(array, kind, context)
                    name = original_file_name(index, kind, writer.extension)
                    write_bytes(folder / name, data)
                    files[kind], digests[kind] = name, hashlib.sha256(data).hexdigest()
                manifest.write(json.dumps({"index": index, "seed": sample_seed, "files": files, "sha256": digests,
                                           "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                                           **common}, default=str) + "\n")
                written += 1
        run = {**common, "seed": seed, "format": writer.name, "output_path": str(where),
               "n": self._done.get(self._run_key(options, where), written)}
        write_text(sidecar / RUN_FILE, json.dumps(run, indent=2, sort_keys=True, default=str) + "\n")
        logger.info("wrote %d samples of %s to %s (manifest in %s)", written, self.entry.id, folder, sidecar)
        return None


#: What the original library's models returned when not saving: 8-bit images in 0..255.
ORIGINAL_OUTPUT = {"dtype": "uint8", "range": [0, 255]}


def original_output(card: Any) -> dict[str, Any] | None:
    """How the original returned the model's images: the card's ``original_output`` (``{"dtype", "range"}``),
    else :data:`ORIGINAL_OUTPUT` for a card of an original model (one with an ``upstream_id``), else None."""
    declared = card.extra.get("original_output")
    if isinstance(declared, Mapping):
        return dict(declared)
    return dict(ORIGINAL_OUTPUT) if card.upstream_id else None


def original_array(card: Any, image: Any) -> Any:
    """``image`` in the dtype and value range the original returned for the model (unchanged when the card says
    nothing, or when it already has that integer dtype): float images in [0, 1], 8- and 16-bit ones are rescaled."""
    import numpy as np

    wanted = original_output(card)
    if wanted is None:
        return image
    dtype = np.dtype(wanted.get("dtype", "uint8"))
    array = np.asarray(image)
    if array.dtype == dtype and dtype.kind in "iu":  # integers already in the original's form
        return array
    low, high = (float(v) for v in wanted.get("range", [0, 255]))
    if array.dtype == np.uint16:
        unit = array.astype(np.float64) / 65535.0
    elif array.dtype == np.uint8:
        unit = array.astype(np.float64) / 255.0
    else:
        unit = np.clip(array.astype(np.float64), 0.0, 1.0)
    scaled = low + unit * (high - low)
    return (np.rint(scaled) if dtype.kind in "iu" else scaled).astype(dtype)


def original_file_name(index: int, kind: str, extension: str) -> str:
    """``3.png`` for image 3 of a run, ``3_mask.png`` for its mask: one file per sample, as the original wrote."""
    return f"{index}.{extension}" if kind == "image" else f"{index}_{kind}.{extension}"


def sidecar_folder(folder: Path) -> Path:
    """The hidden folder beside ``folder`` that holds the manifest and run record of a compat run."""
    resolved = folder.resolve()
    return resolved.parent / f".{resolved.name or 'output'}{SIDECAR_SUFFIX}"


def understood_options(model: Model, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options ``model`` understands; the others are ignored with one warning, as the original's models
    ignored arguments they did not take."""
    accepted = set(model.options)
    ignored = sorted(set(options) - accepted)
    if ignored:
        logger.warning("model %s does not use the option(s) %s; they are ignored (it understands: %s)", model.card.id,
                       ", ".join(ignored), ", ".join(sorted(accepted)) or "no extra options")
    return {k: v for k, v in options.items() if k in accepted}


def _default_output(model_id: str) -> Path:
    return Path(DEFAULT_OUTPUT_FOLDER) / model_id / datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def generate_options(entry: ModelEntry, kwargs: Mapping[str, Any], *, saving: bool,
                     extra: Sequence[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the keyword options of a generation call into medigan's own (checked; the original's
    ``input_path`` read, a bare condition named) and the model's (the original's model-specific arguments
    such as ``image_size`` or ``gpu_id``, passed to models that understand them)."""
    allowed = [k for k in GENERATE_OPTIONS if saving or k != "format"] + list(extra)
    model_options = {k: v for k, v in kwargs.items() if k not in allowed}
    options = {k: v for k, v in kwargs.items() if k in allowed}
    if "input_path" in options:
        if options.get("inputs") is not None:
            raise MediganUsageError("give either inputs or input_path, not both")
        from ..generation.inputs import read_inputs

        options["inputs"] = read_inputs(options.pop("input_path"))
    condition = options.get("condition")
    if condition is not None and not isinstance(condition, Mapping):
        names = list(entry.card.conditions)
        if len(names) != 1:
            raise MediganUsageError(f"model {entry.id!r} takes {'no conditions' if not names else 'the conditions ' + ', '.join(names)}; "
                                    f"give condition as a dict such as {{'{names[0] if names else 'name'}': value}}")
        options["condition"] = {names[0]: _original_condition_value(entry.card, names[0], condition)}
    return options, model_options


def _original_condition_value(card: Any, name: str, value: Any) -> Any:
    """A bare condition as the original took it (``condition=0`` for 00008's malignant masses) in the card's values,
    through the code mapping an original-code card of the model states (``original.condition_arg.values``)."""
    allowed = card.conditions.get(name, ())
    if value in allowed:
        return value
    rule = card.extra.get("original_condition")
    if rule is None and isinstance(card.extra.get("original"), Mapping):
        rule = card.extra["original"].get("condition_arg")
    codes = rule.get("values") if isinstance(rule, Mapping) else None
    if isinstance(codes, Mapping):
        words = [word for word, code in codes.items() if str(code) == str(value) and word in allowed]
        if len(words) == 1:
            return words[0]
    return value
