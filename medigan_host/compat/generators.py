"""``Generators``: the public API of the original medigan library, over the installed plugins.

Method names, arguments, return shapes and the files written follow the original ``medigan.Generators``
(importable as ``from medigan import Generators``); docs/compat.md maps every method and lists what still
differs. Models are addressed by id, upstream id (``00001_DCGAN_MMG_CALC_ROI``) or its number (``1``,
``"00001"``). Nothing is pip-installed at run time, and no framework is imported until a model is loaded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from ..cards import ModelCard
from ..catalog.ranking import metric_direction, rank_entries
from ..errors import CardError, MediganUsageError, PluginError
from ..models import Model
from ..registry import ModelEntry
from .config import ConfigManager, deep_get, missing_requirements, model_config, original_entries
from .generate import GenerateFunction, generate_options, understood_options
from .matching import MatchedEntry, ModelMatchCandidate, match_models

__all__ = ["ConfigManager", "GenerateFunction", "Generators", "MatchedEntry", "ModelMatchCandidate"]

logger = logging.getLogger("medigan_host")


class Generators:
    """The original medigan's ``Generators`` over the installed plugins (see docs/compat.md).

    ``Generators().generate("00001", num_samples=8, save_images=False)`` returns eight arrays;
    ``find_models_and_rank(["mammography"], metric="FID")`` ranks the matching models best first.
    """

    def __init__(self, config_manager: Any = None, model_selector: Any = None, model_executors: list | None = None,
                 model_contributors: list | None = None, initialize_all_models: bool = False) -> None:
        for name, value in (("config_manager", config_manager), ("model_selector", model_selector),
                            ("model_contributors", model_contributors)):
            if value:
                raise MediganUsageError(f"Generators({name}=...) is not supported: models and their metadata come from the "
                                        "installed plugins (`medigan plugins`); create Generators() without it")
        self.model_executors: list[Model] = list(model_executors or [])
        self.model_contributors: list = []
        if initialize_all_models:
            self.add_all_model_executors()

    # -- catalog ----------------------------------------------------------------------------------------------
    @staticmethod
    def _catalog():
        from ..api import installed_catalog

        return installed_catalog()

    def _original_entries(self) -> list[ModelEntry]:
        catalog = self._catalog()
        key = (id(catalog), tuple(e.id for e in catalog))
        if getattr(self, "_original_cache", (None,))[0] != key:  # rebuilt when models are added or the host reset
            self._original_cache = (key, original_entries(catalog))
        return self._original_cache[1]

    def _entry(self, model_id: str | int) -> ModelEntry:
        """The model, as :func:`~medigan_host.compat.config.original_entries` shows it when it is one of those."""
        entry = self._catalog().get(model_id)
        return next((e for e in self._original_entries() if e.id == entry.id), entry)

    @staticmethod
    def _distribution(entry: ModelEntry) -> str | None:
        from ..api import plugin_host

        info = plugin_host().plugins.get(entry.plugin)
        return info.distribution if info is not None else None

    def _check_install(self, model_id: str | int, install_dependencies: bool, trusted: bool = False) -> None:
        """``install_dependencies=True`` builds the own environment of a model that runs its own code, when it is
        missing or out of date, and only when its code is trusted (``trust_remote_code=True`` or
        ``MEDIGAN_TRUST_REMOTE_CODE=1``); nothing is ever installed into this Python: for other models it warns when
        the requirements are importable and raises with the exact command otherwise."""
        if not install_dependencies:
            return
        entry = self._entry(model_id)
        if isinstance(entry.card.extra.get("environment"), Mapping):
            self._build_environment(entry, trusted)
            return
        missing, command = missing_requirements(entry, self._distribution(entry))
        if missing:
            raise MediganUsageError(f"install_dependencies=True: medigan never installs packages while it runs, and model "
                                    f"{entry.id!r} needs {', '.join(missing)}, which is not installed. Run `{command}`, "
                                    "then call again")
        logger.warning("install_dependencies=True is ignored: medigan never installs packages while it runs; the "
                       "requirements of %s are already installed", entry.id)

    @staticmethod
    def _build_environment(entry: ModelEntry, trusted: bool) -> None:
        from ..environments import create_env, env_state, missing_steps
        from ..trust import trusted_by_environment

        card = entry.card
        state = env_state(card)
        if state == "ok":
            return
        if not (trusted or trusted_by_environment()):
            steps = missing_steps(card, trusted=False)
            raise MediganUsageError(f"install_dependencies=True builds the own environment of model {entry.id!r} only when "
                                    f"you trust its code. Missing: " + "; ".join(f"({i}) {step}" for i, step in
                                                                                    enumerate(steps, 1)))
        logger.warning("install_dependencies=True: building the environment of %s (%s); nothing is installed into "
                       "this Python", entry.id, state)
        create_env(card, force=state != "missing", log=logger.info)

    @property
    def config_manager(self) -> ConfigManager:
        """The original's config manager: ``model_ids``, ``config_dict``, ``get_config_by_id``, ``match_model_id``."""
        return ConfigManager(self)

    @property
    def model_selector(self) -> Generators:
        """The original's model selector: its search and ranking methods are those of this object."""
        return self

    # -- config manager methods --------------------------------------------------------------------------------
    def get_config_by_id(self, model_id: str | int, config_key: str | None = None) -> Any:
        """The model's config (``execution``, ``selection``, ``description``, ``card``), or the part under the
        dotted ``config_key`` (case-insensitive; None when absent)."""
        entry = self._entry(model_id)
        return deep_get(model_config(entry, self._distribution(entry)), config_key)

    def is_model_metadata_valid(self, model_id: str, metadata: dict, is_local_model: bool = True) -> bool:
        """Whether ``metadata`` is a valid model card (the reason is logged when it is not)."""
        try:
            card = ModelCard.from_dict(metadata)
        except (CardError, TypeError) as exc:
            logger.info("metadata of model %r is not a valid model card: %s", model_id, exc)
            return False
        if not _describes(card, model_id):
            logger.info("metadata describes model %r, not %r", card.id, model_id)
            return False
        return True

    def add_model_to_config(self, model_id: str, metadata: dict, is_local_model: bool | None = None,
                            overwrite_existing_metadata: bool = False, store_new_config: bool = True) -> bool:
        raise MediganUsageError("add_model_to_config is not supported: a model joins medigan as a plugin that registers "
                                "its card (see docs/plugins.md); from code, use medigan_host.register_plugin(obj)")

    # -- model selector methods --------------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        """The ids of the installed models, one per original model (see docs/compat.md)."""
        return [entry.id for entry in self._original_entries()]

    def get_selection_criteria_by_id(self, model_id: str | int, is_model_id_removed: bool = True) -> dict:
        selection = self.get_config_by_id(model_id, "selection")
        return selection if is_model_id_removed else {"model_id": self._entry(model_id).id, "selection": selection}

    def get_selection_criteria_by_ids(self, model_ids: list | None = None, are_model_ids_removed: bool = True) -> list:
        ids = self.list_models() if model_ids is None else [self._entry(m).id for m in model_ids]
        return [self.get_selection_criteria_by_id(m, is_model_id_removed=are_model_ids_removed) for m in ids]

    def get_selection_values_for_key(self, key: str, model_id: str | int | None = None) -> list:
        """The value under the dotted ``key`` of the selection config, per model (or of one model)."""
        ids = self.list_models() if model_id is None else [model_id]
        return [deep_get(self.get_selection_criteria_by_id(m), key) for m in ids]

    def get_selection_keys(self, model_id: str | int | None = None) -> list:
        keys: list[str] = []
        for selection in (self.get_selection_criteria_by_ids() if model_id is None else [self.get_selection_criteria_by_id(model_id)]):
            keys += [k for k in selection if k not in keys]
        return keys

    def get_models_by_key_value_pair(self, key1: str, value1: str, is_case_sensitive: bool = False) -> list:
        """``[{"model_id": …, key1: value1}]`` for models whose selection config holds ``value1`` under ``key1``."""
        out = []
        for model_id in self.list_models():
            actual = deep_get(self.get_selection_criteria_by_id(model_id), key1, case_sensitive=is_case_sensitive)
            if actual is None or isinstance(actual, Mapping):
                continue
            values = [str(v) for v in actual] if isinstance(actual, list) else [str(actual)]
            if not is_case_sensitive:
                values, wanted = [v.lower() for v in values], str(value1).lower()
            else:
                wanted = str(value1)
            if wanted in values:
                out.append({"model_id": model_id, key1: value1})
        return out

    def rank_models_by_performance(self, model_ids: list | None = None, metric: str = "SSIM",
                                   order: str | None = None) -> list:
        """``[{"model_id": …, metric: value, …}]`` best first by ``metric`` (case-insensitive, dotted paths such as
        the original's ``CLF.trained_on_real_and_fake.f1``).

        ``order`` ``"asc"``/``"desc"`` is obeyed; without it the metric's direction decides, and for a metric
        medigan has no direction for, ascending, as the original. Models that lack the metric are left out,
        as the original did (logged at INFO); the ranking's other notes are logged as warnings.
        """
        if model_ids is not None and len(model_ids) == 0:
            return []
        if order is None and isinstance(metric, str) and metric.strip() and metric_direction(metric.strip()) is None:
            order = "asc"
        if isinstance(model_ids, (str, int)):
            raise MediganUsageError("model_ids must be a list of model ids, e.g. ['00001', 'ct-head-phantom']")
        chosen = self._original_entries() if model_ids is None else [self._entry(m) for m in model_ids]
        ranking = rank_entries(list({e.id: e for e in chosen}.values()), metric, order)
        ranked = [row for row in ranking.models if row.value is not None]
        for note in ranking.notes:
            if "listed last" not in note:  # the CLI's note on models without the metric; they are left out here
                logger.warning("%s", note)
        left_out = [row.entry.id for row in ranking.models if row.value is None]
        if left_out:
            logger.info("%d model(s) have no %r on their card and are left out: %s", len(left_out), metric, ", ".join(left_out))
        return [{"model_id": row.entry.id, metric: row.value, "upstream_id": row.entry.card.upstream_id,
                 "rank": row.rank, "reference": row.reference, "extractor": row.extractor, "n": row.n}
                for row in ranked]

    def find_matching_models_by_values(self, values: list, target_values_operator: str = "AND",
                                       are_keys_also_matched: bool = False, is_case_sensitive: bool = False,
                                       fuzzy: bool = False) -> list:
        """Models whose cards match the search ``values`` (AND: all, OR: any, XOR: exactly one).

        As the original, a value matches a card or config entry equal to it (case-insensitive unless
        ``is_case_sensitive``; with ``are_keys_also_matched`` keys too), in catalogue order. ``fuzzy=True`` is
        medigan's ranked search instead: an entry also matches when it holds the value's words, by prefix
        ("mammo") or with a spelling slip ("mamography"), and the most relevant model comes first.
        """
        entries = self._original_entries()
        configs = {e.id: model_config(e, self._distribution(e)) for e in entries}
        return match_models(entries, values, target_values_operator, are_keys_also_matched, is_case_sensitive,
                            fuzzy=fuzzy, configs=configs)

    def find_models_and_rank(self, values: list, target_values_operator: str = "AND", are_keys_also_matched: bool = False,
                             is_case_sensitive: bool = False, metric: str = "SSIM", order: str | None = None,
                             fuzzy: bool = False) -> list:
        """Search as :meth:`find_matching_models_by_values`, then rank the matches as :meth:`rank_models_by_performance`."""
        matches = self.find_matching_models_by_values(values, target_values_operator, are_keys_also_matched, is_case_sensitive,
                                                      fuzzy)
        if not matches:
            logger.warning("no model matched the values %s; adjust them to find at least one match", values)
            return []
        return self.rank_models_by_performance([m.model_id for m in matches], metric, order)

    def find_models_rank_and_generate(self, values: list, target_values_operator: str = "AND",
                                      are_keys_also_matched: bool = False, is_case_sensitive: bool = False,
                                      metric: str = "SSIM", order: str | None = None, num_samples: int = 30,
                                      output_path: str | None = None, is_gen_function_returned: bool = False,
                                      install_dependencies: bool = False, **kwargs: Any) -> Any:
        """Generate with the best-ranked model among those matching ``values``; when none matches and has the
        metric, the reason is logged as an error and None returned."""
        ranked = self.find_models_and_rank(values, target_values_operator, are_keys_also_matched, is_case_sensitive,
                                           metric, order, kwargs.pop("fuzzy", False))
        if not ranked:
            logger.error("no model matches the values %s and has a %r on its card; change the values or the metric, "
                         "nothing was generated", values, metric)
            return None
        best = ranked[0]
        logger.info("generating with %s, ranked first of %d by %s", best["model_id"], len(ranked), metric)
        return self.generate(best["model_id"], num_samples, output_path, is_gen_function_returned=is_gen_function_returned,
                             install_dependencies=install_dependencies, **kwargs)

    def find_model_and_generate(self, values: list, target_values_operator: str = "AND",
                                are_keys_also_matched: bool = False, is_case_sensitive: bool = False,
                                num_samples: int = 30, output_path: str | None = None,
                                is_gen_function_returned: bool = False, install_dependencies: bool = False,
                                **kwargs: Any) -> Any:
        """Generate with the one model that matches ``values``; when more or fewer match, the matches are logged as
        an error and None is returned, as the original did."""
        matches = self.find_matching_models_by_values(values, target_values_operator, are_keys_also_matched, is_case_sensitive,
                                                      kwargs.pop("fuzzy", False))
        if len(matches) != 1:
            listed = ", ".join(m.model_id for m in matches)
            logger.error("the values %s match %d models%s; exactly one is needed: add or change values, or use "
                         "find_models_rank_and_generate(); nothing was generated", values, len(matches),
                         ": " + listed if listed else "")
            return None
        return self.generate(matches[0].model_id, num_samples, output_path, is_gen_function_returned=is_gen_function_returned,
                             install_dependencies=install_dependencies, **kwargs)

    # -- model executors (loaded models) -----------------------------------------------------------------------
    def add_all_model_executors(self) -> None:
        """Load every installed model (imports each model's framework)."""
        for model_id in self.list_models():
            self.add_model_executor(model_id)

    def add_model_executor(self, model_id: str | int, install_dependencies: bool = False) -> None:
        self._check_install(model_id, install_dependencies)
        if not self.is_model_executor_already_added(model_id):
            from ..models import load

            self.model_executors.append(load(self._entry(model_id), "auto"))

    def is_model_executor_already_added(self, model_id: str | int) -> bool:
        return self.find_model_executor_by_id(model_id) is not None

    def find_model_executor_by_id(self, model_id: str | int) -> Model | None:
        wanted = self._entry(model_id).id
        return next((m for m in self.model_executors if m.card.id == wanted), None)

    def get_model_executor(self, model_id: str | int, install_dependencies: bool = False) -> Model:
        """The loaded model (``medigan_host.Model``), loaded on first use and kept."""
        self.add_model_executor(model_id, install_dependencies)
        return self.find_model_executor_by_id(model_id)

    # -- generation --------------------------------------------------------------------------------------------
    def generate(self, model_id: str | int, num_samples: int = 30, output_path: str | None = None,
                 save_images: bool = True, is_gen_function_returned: bool = False, install_dependencies: bool = False,
                 **kwargs: Any) -> Any:
        """Generate ``num_samples`` samples of the model.

        ``save_images=True`` writes one file per sample straight into ``output_path`` (default
        ``output/<id>/<time>``) as the original did (``0.png``, ``1.png`` …; masks beside them as ``0_mask.png``
        …; the manifest and run record in the hidden ``.<name>.medigan/`` folder beside it) and returns None;
        writing into a folder that already holds files warns and replaces files of the same name.
        ``save_images=False`` returns a list with one array (H, W, C) per sample, or one ``(image, mask)`` pair
        for models with masks. ``is_gen_function_returned=True`` returns a reusable function instead; each call
        of it gives the run's next ``num_samples`` samples. Keyword options: ``seed`` (default 0),
        ``condition``, ``inputs`` or ``input_path`` (image-to-image models translate the first ``num_samples`` inputs,
        all when fewer; with none given, the sample inputs a model ships),
        ``batch_size``, ``device``, and when saving ``format``. Other keyword arguments (the original's
        model-specific ones, such as ``image_size`` or ``gpu_id``) go to models that understand them and are
        ignored with a warning by the others.
        """
        self._check_install(model_id, install_dependencies, kwargs.get("trust_remote_code") is True)
        entry = self._entry(model_id)
        options, model_options = generate_options(entry, kwargs, saving=save_images)
        if not save_images and output_path is not None:
            logger.warning("output_path %s is not used with save_images=False: the samples are returned", output_path)
            output_path = None
        function = GenerateFunction(self, entry, num_samples, output_path, save_images, options, model_options)
        return function if is_gen_function_returned else function()

    def get_generate_function(self, model_id: str | int, num_samples: int = 30, output_path: str | None = None,
                              install_dependencies: bool = False, **kwargs: Any) -> GenerateFunction:
        """A reusable generate function (see :meth:`generate`); as in the original it writes to ``output_path``
        (default ``output/<id>/<time>``) unless ``save_images=False`` is passed, and then returns arrays."""
        save_images = kwargs.pop("save_images", True)
        return self.generate(model_id, num_samples, output_path, save_images, is_gen_function_returned=True,
                             install_dependencies=install_dependencies, **kwargs)

    def test_model(self, model_id: str | int, is_local_model: bool = True, overwrite_existing_metadata: bool = False,
                   store_new_config: bool = True, num_samples: int = 3, install_dependencies: bool = False) -> None:
        """Generate ``num_samples`` samples in memory and check that exactly that many come back."""
        samples = self.generate(model_id, num_samples, save_images=False, install_dependencies=install_dependencies)
        if not isinstance(samples, list) or len(samples) != num_samples:
            raise PluginError(f"model {self._entry(model_id).id!r} test failed: expected {num_samples} samples, "
                              f"got {len(samples) if isinstance(samples, list) else type(samples).__name__}")
        logger.info("model %s generated %d samples as expected", self._entry(model_id).id, num_samples)

    # -- contribution: replaced by plugins ---------------------------------------------------------------------
    def _contribution(self, method: str) -> MediganUsageError:
        return MediganUsageError(f"{method} is not supported: models are contributed as plugins. Start one with "
                                 "`medigan new`, check it with `medigan check`, and publish it to PyPI (docs/plugins.md)")

    def add_model_contributor(self, model_id: str, init_py_path: str | None = None) -> Any:
        raise self._contribution("add_model_contributor")

    def get_model_contributor_by_id(self, model_id: str) -> None:
        """Always None: there are no model contributors; models come as plugins."""
        return None

    def add_metadata_from_file(self, model_id: str, metadata_file_path: str) -> dict:
        raise self._contribution("add_metadata_from_file")

    def add_metadata_from_input(self, model_id: str, model_weights_name: str, model_weights_extension: str,
                                generate_method_name: str, dependencies: list, fill_more_fields_interactively: bool = True,
                                output_path: str = "config") -> dict:
        raise self._contribution("add_metadata_from_input")

    def push_to_zenodo(self, model_id: str, zenodo_access_token: str, creator_name: str = "unknown name",
                       creator_affiliation: str = "unknown affiliation", model_description: str = "") -> str:
        raise self._contribution("push_to_zenodo")

    def push_to_github(self, model_id: str, github_access_token: str, package_link: str | None = None,
                       creator_name: str = "", creator_affiliation: str = "", model_description: str = "") -> str:
        raise self._contribution("push_to_github")

    def contribute(self, model_id: str, init_py_path: str, github_access_token: str, zenodo_access_token: str,
                   **kwargs: Any) -> str:
        raise self._contribution("contribute")

    # -- torch and visualisation -------------------------------------------------------------------------------
    def get_as_torch_dataset(self, model_id: str | int, num_samples: int = 100, install_dependencies: bool = False,
                             transform: Any = None, **kwargs: Any) -> Any:
        """A ``torch.utils.data.Dataset`` of ``num_samples`` samples with the original's items: ``{"sample": the
        array as ``generate(..., save_images=False)`` returns it, "mask"?: its mask, "label"?: the condition}``.

        ``transform`` is called as the original called it: ``transform(x, mask)`` (returning both) for models
        with masks, ``transform(x)`` otherwise. Samples are generated when read (item i is always sample i of
        the run), not all up front. Options: ``seed``, ``condition``, ``inputs``/``input_path``, ``device``,
        ``batch_size``; other keyword arguments go to models that understand them (see :meth:`generate`).
        """
        self._check_install(model_id, install_dependencies)
        entry = self._entry(model_id)
        options, model_options = generate_options(entry, kwargs, saving=False)
        if options.pop("trust_remote_code", None) is True:
            raise MediganUsageError("datasets load their model in every DataLoader worker: to trust a model's downloaded "
                                    "code there, set MEDIGAN_TRUST_REMOTE_CODE=1 instead of trust_remote_code=True")
        _require_torch("get_as_torch_dataset")
        from .torch import OriginalDataset

        inputs = options.pop("inputs", None)
        count = len(inputs) if inputs is not None else num_samples
        dataset = OriginalDataset(entry, count, inputs=inputs, transform=transform, **options)
        if model_options:
            dataset.model_options = understood_options(dataset.source.model, model_options)
        return dataset

    def get_as_torch_dataloader(self, dataset: Any = None, model_id: str | int | None = None, num_samples: int = 1000,
                                install_dependencies: bool = False, transform: Any = None, batch_size: int = 1,
                                shuffle: bool = False, sampler: Any = None, batch_sampler: Any = None,
                                num_workers: int | None = None, collate_fn: Any = None, pin_memory: bool = False,
                                drop_last: bool = False, timeout: float = 0, worker_init_fn: Any = None,
                                prefetch_factor: int | None = None, persistent_workers: bool = False,
                                pin_memory_device: str = "", **kwargs: Any) -> Any:
        """A ``torch.utils.data.DataLoader`` over ``dataset`` or over :meth:`get_as_torch_dataset` of ``model_id``.

        Defaults as the original's latest release (``num_workers=None`` is 0 workers). ``prefetch_factor`` and
        ``persistent_workers`` are passed on only with workers, where torch >= 2.0 accepts them.
        """
        _require_torch("get_as_torch_dataloader")
        from torch.utils.data import DataLoader

        if dataset is None:
            if model_id is None:
                raise MediganUsageError("give a model_id (or a dataset) to get_as_torch_dataloader")
            dataset = self.get_as_torch_dataset(model_id, num_samples, install_dependencies, transform, **kwargs)
        elif kwargs or model_id is not None:
            raise MediganUsageError("pass either a dataset or a model_id with its options, not both")
        workers = 0 if num_workers is None else num_workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise MediganUsageError(f"num_workers must be None or a whole number of at least 0, got {num_workers!r}")
        extra: dict[str, Any] = {"pin_memory_device": pin_memory_device} if pin_memory_device else {}
        if workers > 0:
            extra.update(prefetch_factor=prefetch_factor, persistent_workers=persistent_workers)
        elif persistent_workers or prefetch_factor not in (None, 2):
            raise MediganUsageError("prefetch_factor and persistent_workers need num_workers > 0")
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, batch_sampler=batch_sampler,
                          num_workers=workers, collate_fn=collate_fn, pin_memory=pin_memory, drop_last=drop_last,
                          timeout=timeout, worker_init_fn=worker_init_fn, **extra)

    def visualize(self, model_id: str | int, slider_grouper: int = 10, auto_close: bool = False,
                  install_dependencies: bool = False) -> None:
        """Show the model's interactive viewer (needs the visualisation module, ``medigan_host.viz.visualize``)."""
        self._check_install(model_id, install_dependencies)
        import importlib

        target = None
        try:
            target = getattr(importlib.import_module("medigan_host.viz.visualize"), "visualize", None)
        except ModuleNotFoundError as exc:
            if exc.name != "medigan_host.viz.visualize":
                raise
        if not callable(target):
            raise MediganUsageError("visualize needs medigan's visualisation module (medigan_host.viz.visualize), which this "
                                    "installation does not have; update medigan-host to a version that includes it")
        target(self._entry(model_id).id, slider_grouper=slider_grouper, auto_close=auto_close)

    def __repr__(self) -> str:
        return f"Generators(model_ids={self.list_models()}, model_executors={self.model_executors})"

    def __len__(self) -> int:
        return len(self.model_executors)

    def __getitem__(self, idx: int) -> Model:
        return self.model_executors[idx]


def _describes(card: ModelCard, model_id: str | int) -> bool:
    """Whether ``model_id`` is the card's id, upstream id or the upstream id's number."""
    query = str(model_id).strip().lower()
    if query in (card.id, (card.upstream_id or "").lower()):
        return True
    number = re.match(r"^(\d+)", card.upstream_id or "")
    return query.isdigit() and number is not None and int(number.group(1)) == int(query)


def _require_torch(method: str) -> None:
    """A one-line error naming the install when PyTorch is missing (the datasets and loaders are torch objects)."""
    import importlib.util

    from ..errors import FrameworkMissingError
    from ..frameworks import pip_command

    if importlib.util.find_spec("torch") is None:
        raise FrameworkMissingError(f"Generators().{method}() returns PyTorch objects and needs torch, which is not "
                                    f"installed: run `{pip_command('torch')}` (in the environment of this Python) "
                                    "and try again")
