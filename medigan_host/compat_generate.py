"""Generation for the compatible API: the original's keyword options, in-memory lists, and reusable
generate functions that continue their run."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MediganUsageError
from .models import Model
from .registry import ModelEntry

if TYPE_CHECKING:
    from .compat import Generators

logger = logging.getLogger("medigan_host")

#: Where ``generate(..., save_images=True)`` writes when no output_path is given, as the original did.
DEFAULT_OUTPUT_FOLDER = "output"
#: Keyword arguments the generation methods take besides the original ones.
GENERATE_OPTIONS = ("seed", "condition", "inputs", "input_path", "batch_size", "device", "format", "resume", "overwrite",
                    "trust_remote_code")


class GenerateFunction:
    """What ``generate(..., is_gen_function_returned=True)`` returns: call it (with optional overrides) to
    generate the run's next ``num_samples`` samples, so repeated calls never repeat a sample."""

    def __init__(self, generators: Generators, entry: ModelEntry, num_samples: int, output_path: str | None,
                 save_images: bool, options: dict[str, Any]) -> None:
        self.generators = generators
        self.entry = entry
        self.model_id = entry.id
        self.num_samples = num_samples
        self.save_images = save_images
        self.options = options
        self.output_path = Path(output_path) if output_path is not None else None
        self._done: dict[Any, int] = {}  # run -> samples generated so far

    def __repr__(self) -> str:
        return f"<medigan generate function of {self.model_id!r}, {self.num_samples} samples per call>"

    def __call__(self, **overrides: Any) -> list | None:
        num_samples = overrides.pop("num_samples", self.num_samples)
        output_path = overrides.pop("output_path", self.output_path)
        options = {**self.options, **generate_options(self.entry, overrides, saving=self.save_images)}
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise MediganUsageError(f"num_samples must be a whole number of at least 1, got {num_samples!r}")
        if self.save_images:
            return self._save(num_samples, output_path, options)
        return self._in_memory(num_samples, options)

    def _run_key(self, options: dict[str, Any], where: Any = None) -> str:
        return json.dumps([str(where), options.get("seed", 0), options.get("condition")], sort_keys=True, default=str)

    def _in_memory(self, num_samples: int, options: dict[str, Any]) -> list:
        from .conditions import check_condition
        from .engine import DEFAULT_BATCH_SIZE, batches
        from .seeding import check_seed, sample_seeds

        card = self.entry.card
        seed = check_seed(options.get("seed", 0))
        condition = check_condition(card, options.get("condition"))
        inputs = options.get("inputs")
        if card.needs_inputs:
            if inputs is None:
                raise MediganUsageError(f"model {card.id!r} translates {card.input} inputs: pass inputs= or input_path=")
            num_samples = len(inputs)
        model = self._model(options.get("device", "auto"), bool(options.get("trust_remote_code")))
        key = self._run_key(options)
        start = 0 if card.needs_inputs else self._done.get(key, 0)
        out: list = []
        for chunk in batches(range(num_samples), options.get("batch_size", DEFAULT_BATCH_SIZE)):
            seeds = sample_seeds(seed, [start + i for i in chunk])
            samples = model.generate(seeds, condition=condition,
                                     inputs=None if inputs is None else [inputs[i] for i in chunk])
            for row in range(len(chunk)):
                out.append((samples.images[row], samples.masks[row]) if samples.masks is not None else samples.images[row])
        if not card.needs_inputs:
            self._done[key] = start + num_samples
        return out

    def _model(self, device: str, trust_remote_code: bool = False) -> Model:
        existing = self.generators.find_model_executor_by_id(self.model_id)
        if existing is not None and device in ("auto", existing.device):
            return existing
        from .models import load

        model = load(self.entry, device, trust_remote_code=trust_remote_code)
        if existing is None:
            self.generators.model_executors.append(model)
        return model

    def _save(self, num_samples: int, output_path: Any, options: dict[str, Any]) -> None:
        from .engine import generate

        folder = Path(output_path) if output_path is not None else _default_output(self.entry.id)
        if output_path is None and self.output_path is None:
            self.output_path = folder  # later calls extend this run
        card = self.entry.card
        key = self._run_key(options, folder.resolve())
        done = self._done.get(key, 0)
        total = done + num_samples
        if card.needs_inputs:
            total = len(options["inputs"]) if options.get("inputs") is not None else num_samples
        run_options = {k: v for k, v in options.items() if k in ("seed", "condition", "inputs", "batch_size", "device",
                                                                  "format", "resume", "overwrite", "trust_remote_code")}
        if done and not card.needs_inputs:
            run_options["resume"] = True
            run_options.pop("overwrite", None)
        result = generate(self.entry.id, total, folder, **run_options)
        self._done[key] = total
        logger.info("wrote %d samples of %s to %s", result.generated, self.entry.id, folder)
        return None


def _default_output(model_id: str) -> Path:
    return Path(DEFAULT_OUTPUT_FOLDER) / model_id / datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def generate_options(entry: ModelEntry, kwargs: Mapping[str, Any], *, saving: bool,
                      extra: Sequence[str] = ()) -> dict[str, Any]:
    """Check the keyword options of a generation call; map the original's ``input_path`` and bare conditions."""
    allowed = [k for k in GENERATE_OPTIONS if saving or k not in ("format", "resume", "overwrite")] + list(extra)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise MediganUsageError(f"unknown option {unknown[0]!r} for model {entry.id!r}; the options are: {', '.join(allowed)}")
    options = dict(kwargs)
    if "input_path" in options:
        if options.get("inputs") is not None:
            raise MediganUsageError("give either inputs or input_path, not both")
        from .inputs import read_inputs

        options["inputs"] = read_inputs(options.pop("input_path"))
    condition = options.get("condition")
    if condition is not None and not isinstance(condition, Mapping):
        names = list(entry.card.conditions)
        if len(names) != 1:
            raise MediganUsageError(f"model {entry.id!r} takes {'no conditions' if not names else 'the conditions ' + ', '.join(names)}; "
                                    f"give condition as a dict such as {{'{names[0] if names else 'name'}': value}}")
        options["condition"] = {names[0]: condition}
    return options
