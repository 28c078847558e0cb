"""Model cards: the static description of a model, validated when a plugin registers it."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import CardError

FRAMEWORKS = ("pytorch", "tensorflow", "onnx", "numpy", "jax", "other")
OUTPUTS = ("image", "image+mask")
INPUTS = ("noise", "image", "mask", "image+mask")
KNOWN_MODALITIES = (
    "mammography", "mri", "ct", "xray", "endoscopy", "histology", "ultrasound", "fundus", "pet", "dermoscopy",
)

#: The patterns of the card's fields, declared once: the validator below compiles them, and :func:`card_schema`
#: publishes them in the card's JSON Schema (so both accept the same ids, hashes, DOIs, file names...). Written in the
#: part of regular-expression syntax that Python and JSON Schema (ECMA-262) read alike.
PATTERNS = {
    "id": r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$",
    "slug": r"^[a-z0-9][a-z0-9_+-]*$",
    "condition_name": r"^[a-z_][a-z0-9_]*$",
    "text": r"\S",  # a non-blank string
    "sha256": r"^[0-9a-fA-F]{64}$",
    "md5": r"^[0-9a-fA-F]{32}$",
    "zenodo_doi": r"^10\.5281/zenodo\.([1-9][0-9]{0,11})$",
    "hf_repo": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$",
    "hf_commit": r"^[0-9a-fA-F]{40}$",
    "filename": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$",
    "hf_path": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,199})*$",
    "url": r"^(https?|file|package)://\S+$",
    "package_url": r"^package://[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._-]+)+$",
    "folder": r"^(?:file://)?(?:/|[A-Za-z]:[\\/])",  # an absolute path (or its file:// URL)
}
#: Required fields that are non-blank text, and optional text fields (absent, null or a string).
TEXT_FIELDS = ("name", "version", "description", "license")
OPTIONAL_TEXT_FIELDS = ("anatomy", "architecture", "dataset", "citation", "doi")
#: The bounds of ``channels`` and of the number of ``image_size`` dimensions.
CHANNELS = (1, 64)
IMAGE_DIMENSIONS = (2, 3)

_ID = re.compile(PATTERNS["id"])
_SLUG = re.compile(PATTERNS["slug"])
_CONDITION_NAME = re.compile(PATTERNS["condition_name"])
_SHA256 = re.compile(PATTERNS["sha256"])
_MD5 = re.compile(PATTERNS["md5"])
_URL = re.compile(PATTERNS["url"])
#: A Zenodo DOI; its number is the record id (``10.5281/zenodo.7031735`` → record 7031735).
ZENODO_DOI = re.compile(PATTERNS["zenodo_doi"])
#: A Hugging Face Hub repository id and a pinned commit of it.
HF_REPO = re.compile(PATTERNS["hf_repo"])
HF_COMMIT = re.compile(PATTERNS["hf_commit"])
_FILENAME = re.compile(PATTERNS["filename"])
_PACKAGE_URL = re.compile(PATTERNS["package_url"])
_FOLDER = re.compile(PATTERNS["folder"])
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


@dataclass(frozen=True)
class ModelCard(Mapping):
    """What a model is, what it was trained on, and what it produces.

    Construct it with keyword arguments or :meth:`from_dict`; both validate every field and raise
    :class:`~medigan_host.errors.CardError` naming the field. Unknown fields passed to :meth:`from_dict`
    are kept in ``extra`` and written back by :meth:`to_dict`.

    A card is also a read-only mapping over the same keys as :meth:`to_dict` (every field, then the extra fields,
    without an ``extra`` key): ``card["image_size"]``, ``card.get("spacing")``, ``"metrics" in card`` and
    ``dict(card)`` work, so a loader written for a plain dict card reads a ModelCard unchanged. Values are the
    normalised ones (tuples for ``image_size`` and ``tags``), the same as the attributes.
    """

    id: str
    name: str
    version: str
    description: str
    framework: str
    modality: str
    image_size: tuple[int, ...]
    channels: int
    license: str
    anatomy: str = ""
    architecture: str = ""
    dataset: str = ""
    outputs: str = "image"
    input: str = "noise"
    conditions: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    citation: str = ""
    doi: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    weights: tuple[Mapping[str, Any], ...] = ()
    upstream_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in _normalise(self).items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Build a card from a plain dict; fields this version does not know are kept in ``extra``."""
        if isinstance(data, ModelCard):
            return data
        if not isinstance(data, Mapping):
            raise CardError("card", f"expected a ModelCard or a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            model = data.get("id") if isinstance(data.get("id"), str) else None
            raise CardError(missing[0], "is required but missing", model=model)
        if data.get("extra") is not None and not isinstance(data["extra"], Mapping):
            model = data.get("id") if isinstance(data.get("id"), str) else None
            raise CardError("extra", f"must be a mapping of extra fields, got {type(data['extra']).__name__}", model=model)
        extra = dict(data.get("extra") or {})
        extra.update({k: v for k, v in data.items() if k not in known and k != "extra"})
        return cls(**{k: v for k, v in data.items() if k in known}, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field, extras included (the inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name != "extra":
                out[f.name] = _jsonable(getattr(self, f.name))
        out.update(_jsonable(dict(self.extra)))
        return out

    def __getitem__(self, key: str) -> Any:
        if isinstance(key, str):
            if key in _FIELD_NAMES:
                return getattr(self, key)
            if key in self.extra:
                return self.extra[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from _FIELD_NAMES
        yield from (key for key in self.extra if key not in _FIELD_NAMES)

    def __len__(self) -> int:
        return len(_FIELD_NAMES) + sum(key not in _FIELD_NAMES for key in self.extra)

    @property
    def ndim(self) -> int:
        """2 for images, 3 for volumes."""
        return len(self.image_size)

    @property
    def has_masks(self) -> bool:
        return self.outputs == "image+mask"

    @property
    def needs_inputs(self) -> bool:
        return self.input != "noise"

    def metric(self, name: str) -> dict[str, Any] | None:
        """The metric ``name`` (case-insensitive, dotted paths for nested groups) as a dict with ``value``."""
        node: Any = self.metrics
        for part in name.split("."):
            if not isinstance(node, Mapping):
                return None
            match = next((k for k in node if k.lower() == part.lower()), None)
            if match is None:
                return None
            node = node[match]
        if _is_number(node):
            return {"value": float(node)}
        if isinstance(node, Mapping) and _is_number(node.get("value")):
            return dict(node)
        return None


#: The mapping keys of a card that are fields (``extra`` is not a key: its entries are).
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(ModelCard) if f.name != "extra")

#: Extra card field: names of conditions that take any text (e.g. a prompt); their listed values are examples.
FREE_TEXT_FIELD = "free_text_conditions"
#: The longest free-text condition value accepted.
FREE_TEXT_MAX = 1000

REQUIRED_FIELDS = ("id", "name", "version", "description", "framework", "modality", "image_size", "channels", "license")


def _normalise(card: ModelCard) -> dict[str, Any]:
    """Validate every field of ``card``; return the normalised values."""
    model = card.id if isinstance(card.id, str) else None

    def fail(name: str, message: str) -> CardError:
        return CardError(name, message, model=model)

    if not isinstance(card.id, str) or not _ID.match(card.id):
        raise fail("id", f"{card.id!r} is not a lower-case slug: use 1-64 characters a-z, 0-9, '-' and '_', "
                         "starting and ending with a letter or digit, e.g. 'dcgan-mammo-calc'")
    if card.id in _WINDOWS_RESERVED:  # ids name files and folders (weights cache, galleries)
        raise fail("id", f"{card.id!r} is a reserved device name on Windows and cannot name a file; choose another id")
    out: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = getattr(card, name)
        if not isinstance(value, str) or not value.strip():
            raise fail(name, f"must be a non-empty string, got {value!r}"
                       + (" (write versions as strings, e.g. '1.0.0')" if name == "version" else ""))
        out[name] = value.strip()
    for name in OPTIONAL_TEXT_FIELDS:
        value = getattr(card, name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise fail(name, f"must be a string, got {type(value).__name__}")
        out[name] = value.strip()
    out["framework"] = _choice(card.framework, FRAMEWORKS, "framework", fail)
    out["outputs"] = _choice(card.outputs, OUTPUTS, "outputs", fail)
    out["input"] = _choice(card.input, INPUTS, "input", fail)
    if not isinstance(card.modality, str) or not _SLUG.match(card.modality.strip().lower()):
        raise fail("modality", f"must be a lower-case word such as {', '.join(KNOWN_MODALITIES[:5])}; got {card.modality!r}")
    out["modality"] = card.modality.strip().lower()
    out["image_size"] = _image_size(card.image_size, fail)
    if not _is_int(card.channels) or not CHANNELS[0] <= card.channels <= CHANNELS[1]:
        raise fail("channels", f"must be a whole number from {CHANNELS[0]} to {CHANNELS[1]}, got {card.channels!r}")
    out["conditions"] = _conditions(card.conditions, fail)
    out["metrics"] = _metrics(card.metrics, fail, "metrics")
    out["tags"] = _tags(card.tags, fail)
    out["weights"] = _weights(card.weights, fail)
    if card.upstream_id is not None and (not isinstance(card.upstream_id, str) or not card.upstream_id.strip()):
        raise fail("upstream_id", f"must be a string such as '00001_DCGAN_MMG_CALC_ROI' or absent, got {card.upstream_id!r}")
    out["upstream_id"] = card.upstream_id.strip() if card.upstream_id else None
    if not isinstance(card.extra, Mapping):
        raise fail("extra", "must be a mapping of extra fields")
    try:  # the JSON form (string keys, lists for tuples), so that a card round-trips through its JSON file
        extra = json.loads(json.dumps(dict(card.extra), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise fail("extra", f"extra fields must hold JSON data (strings, numbers, booleans, null, lists, mappings): {exc}") from None
    shadowing = sorted(set(extra) & {f.name for f in dataclasses.fields(card)})
    if shadowing:
        raise fail("extra", f"holds {', '.join(map(repr, shadowing))}, which are card fields: give them at the top level "
                            "of the card, not under extra")
    if "remote_code" in extra and not isinstance(extra["remote_code"], bool):  # "true", 1, "yes": not a yes
        raise fail("remote_code", f"must be the JSON boolean true or false (whether generating runs code downloaded "
                                  f"with the model), got {extra['remote_code']!r}")
    free = extra.get(FREE_TEXT_FIELD)
    if free is not None and (not isinstance(free, list) or not all(isinstance(k, str) and k in out["conditions"]
                                                                    for k in free)):
        raise fail(FREE_TEXT_FIELD, f"must list names of declared conditions whose values may be any text (their listed "
                                    f"values are examples), got {free!r}")
    _physical_fields(extra, out["image_size"], fail)
    out["extra"] = extra
    return out


#: Optional extra fields that say what the pixels measure, used by every output format (docs/formats.md):
#: ``spacing`` (mm per image_size axis), ``orientation`` (DICOM ImageOrientationPatient: the direction cosines of the
#: rows and the columns in patient coordinates, LPS) and ``rescale`` (stored value x slope + intercept = physical value).
PHYSICAL_FIELDS = ("spacing", "orientation", "rescale")
#: Optional extra field: how many label channels (K) the masks of an ``image+mask`` model have (1 when absent); fixes
#: the channel axis of the masks in tf.data element specs and is checked against every batch when given.
MASK_CHANNELS_FIELD = "mask_channels"


def _physical_fields(extra: Mapping[str, Any], image_size: tuple[int, ...], fail) -> None:
    mask_channels = extra.get(MASK_CHANNELS_FIELD)
    if mask_channels is not None and not (_is_int(mask_channels) and 1 <= mask_channels <= 64):
        raise fail(MASK_CHANNELS_FIELD, f"must be the number of mask label channels, a whole number from 1 to 64, "
                                        f"got {mask_channels!r}")
    spacing = extra.get("spacing")
    if spacing is not None and not (isinstance(spacing, list) and len(spacing) == len(image_size)
                                    and all(_is_number(v) and v > 0 for v in spacing)):
        raise fail("spacing", f"must list {len(image_size)} positive sizes in mm, one per image_size axis (e.g. "
                              f"{[0.5] * len(image_size)}), got {spacing!r}")
    orientation = extra.get("orientation")
    if orientation is not None:
        numbers = isinstance(orientation, list) and len(orientation) == 6 and all(_is_number(v) for v in orientation)
        row, column = (orientation[:3], orientation[3:]) if numbers else ([], [])
        unit = numbers and all(abs(math.fsum(v * v for v in axis) - 1.0) < 1e-4 for axis in (row, column))
        if not unit or abs(math.fsum(a * b for a, b in zip(row, column, strict=True))) > 1e-4:
            raise fail("orientation", "must be 6 numbers: the unit direction of the image rows, then of its columns, in "
                                      "patient coordinates (DICOM ImageOrientationPatient, LPS; [1, 0, 0, 0, 1, 0] is "
                                      f"an axial slice), the two at right angles; got {orientation!r}")
    rescale = extra.get("rescale")
    if rescale is not None and not (isinstance(rescale, Mapping) and _is_number(rescale.get("slope"))
                                    and rescale["slope"] != 0 and _is_number(rescale.get("intercept"))
                                    and isinstance(rescale.get("unit", ""), str)
                                    and set(rescale) <= {"slope", "intercept", "unit"}):
        raise fail("rescale", "must be {'slope': non-zero number, 'intercept': number, 'unit': text such as 'HU'} "
                              f"(stored value x slope + intercept = physical value), got {rescale!r}")


#: What the JSON Schema cannot say and only :meth:`ModelCard.from_dict` checks (listed in the schema's description).
CODE_ONLY_RULES = (
    "two weights entries may not share a file name",
    "a url entry without filename takes its file name from the url, which must then be a plain file name",
    "free_text_conditions names only declared conditions",
    "the values of a condition differ, also when written as text (1 and '1' are one value)",
    "whole numbers are written without a decimal point (8, not 8.0)",
    "spacing lists one size per image_size axis",
    "orientation's two directions are unit vectors at right angles",
)


def _any_case(word: str) -> str:
    """A pattern matching ``word`` in any letter case (JSON Schema patterns have no case-insensitive flag)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def card_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a medigan card, generated from the declarations the validator uses
    (:data:`PATTERNS`, the field tuples and bounds, the choices, the required fields).

    It describes a card as :meth:`ModelCard.to_dict` writes it: every card medigan accepts validates once written
    back, and every card that validates is accepted, except for the :data:`CODE_ONLY_RULES`. (medigan also accepts
    spellings it normalises: surrounding spaces, upper-case choices and modality.) Published as ``docs/card.schema.json``
    and by ``medigan card export --format json-schema``.
    """
    text = {"type": "string", "pattern": PATTERNS["text"]}
    optional_text = {"type": ["string", "null"]}
    sha = {"type": "string", "pattern": PATTERNS["sha256"]}
    size = {"type": "integer", "minimum": 1}
    reserved = "|".join(_any_case(name) for name in sorted(_WINDOWS_RESERVED))
    filename = {"type": "string", "allOf": [{"pattern": PATTERNS["filename"]}, {"not": {"pattern": r"\.\."}},
                                            {"not": {"pattern": f"^(?:{reserved})(?:\\.|$)"}}]}
    hf_path = {"type": "string", "allOf": [{"pattern": PATTERNS["hf_path"]}, {"not": {"pattern": r"\.\."}},
                                           {"not": {"pattern": f"(?:^|/)(?:{reserved})(?:[./]|$)"}}]}

    def without(*keys: str) -> dict[str, Any]:
        return {"not": {"anyOf": [{"required": [key]} for key in keys]}}

    weights_entry = {"oneOf": [
        {"title": "file at a URL", "type": "object", "required": ["url"],
         "properties": {"url": {"type": "string", "pattern": PATTERNS["url"]}, "sha256": {**sha, "type": ["string", "null"]},
                        "size": size, "filename": filename},
         "allOf": [  # a sha256, or (an http(s) file whose publisher gives only its md5) an md5
             {"anyOf": [{"required": ["sha256"], "properties": {"sha256": {"type": "string"}}},
                        {"required": ["md5"], "properties": {"md5": {"type": "string", "pattern": PATTERNS["md5"]},
                                                             "url": {"pattern": "^https?://"}}}]},
             {"if": {"properties": {"url": {"pattern": "^package://"}}},
              "then": {"properties": {"url": {"pattern": PATTERNS["package_url"]}}}},
             without("doi", "hf", "folder")]},
        {"title": "file of a Zenodo DOI record", "type": "object", "required": ["doi", "filename"],
         "properties": {"doi": {"type": "string", "pattern": PATTERNS["zenodo_doi"]}, "sha256": {**sha, "type": ["string", "null"]},
                        "size": size, "filename": filename},
         **without("url", "folder")},
        {"title": "file of a Hugging Face Hub repository at a pinned commit", "type": "object",
         "required": ["hf", "revision", "filename", "sha256"],
         "properties": {"hf": {"type": "string", "pattern": PATTERNS["hf_repo"]},
                        "revision": {"type": "string", "pattern": PATTERNS["hf_commit"]},
                        "filename": hf_path, "sha256": sha, "size": size},
         **without("url", "doi", "folder")},
        {"title": "local folder of files (a diffusers save_pretrained folder), pinned by the digest of its files",
         "type": "object", "required": ["folder", "sha256"],
         "properties": {"folder": {"type": "string", "pattern": PATTERNS["folder"]}, "sha256": sha, "filename": filename},
         **without("url", "doi", "hf")},
    ]}
    metric = {"anyOf": [
        {"type": "number"},
        {"type": "object", "required": ["value"], "properties": {"value": {"type": "number"}, "n": size}},
        {"type": "object", "not": {"required": ["value"]}, "propertyNames": {"minLength": 1},
         "additionalProperties": {"$ref": "#/$defs/metric"}},
    ]}
    fields = [f.name for f in dataclasses.fields(ModelCard)]
    free_text = {"type": ["array", "null"], "items": {"type": "string"}}
    number = {"type": "number"}
    physical = {  # the optional extra fields of _physical_fields
        "spacing": {"type": ["array", "null"], "items": {"type": "number", "exclusiveMinimum": 0},
                    "minItems": IMAGE_DIMENSIONS[0], "maxItems": IMAGE_DIMENSIONS[-1]},
        "orientation": {"type": ["array", "null"], "items": number, "minItems": 6,
                        "maxItems": 6},
        "rescale": {"type": ["object", "null"], "required": ["slope", "intercept"], "additionalProperties": False,
                    "properties": {"slope": {**number, "not": {"const": 0}}, "intercept": number,
                                   "unit": {"type": "string"}}},
        MASK_CHANNELS_FIELD: {"type": ["integer", "null"], "minimum": CHANNELS[0], "maximum": CHANNELS[1]},
    }
    properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": PATTERNS["id"], "not": {"enum": sorted(_WINDOWS_RESERVED)}},
        **{name: text for name in TEXT_FIELDS},
        "framework": {"enum": list(FRAMEWORKS)},
        "modality": {"type": "string", "pattern": PATTERNS["slug"]},
        "image_size": {"type": "array", "items": size, "minItems": IMAGE_DIMENSIONS[0], "maxItems": IMAGE_DIMENSIONS[-1]},
        "channels": {"type": "integer", "minimum": CHANNELS[0], "maximum": CHANNELS[1]},
        **{name: optional_text for name in OPTIONAL_TEXT_FIELDS},
        "outputs": {"enum": list(OUTPUTS)},
        "input": {"enum": list(INPUTS)},
        "conditions": {"type": ["object", "null"], "propertyNames": {"pattern": PATTERNS["condition_name"]},
                       "additionalProperties": {"type": "array", "minItems": 1,
                                                "items": {"type": ["string", "number", "boolean"]}}},
        "metrics": {"type": ["object", "null"], "propertyNames": {"minLength": 1},
                    "additionalProperties": {"$ref": "#/$defs/metric"}},
        "tags": {"type": ["array", "null"], "items": text},
        "weights": {"oneOf": [{"$ref": "#/$defs/weights_entry"},
                              {"type": "array", "items": {"$ref": "#/$defs/weights_entry"}}, {"type": "null"}]},
        "upstream_id": {"type": ["string", "null"], "pattern": PATTERNS["text"]},
        "extra": {"type": ["object", "null"], "properties": {FREE_TEXT_FIELD: free_text, **physical},
                  **without(*fields)},
        FREE_TEXT_FIELD: free_text,
        **physical,
    }
    missing = set(fields) - set(properties)
    if missing:  # a new field needs its declaration here (tests/test_card_export.py checks it too)
        raise AssertionError(f"card fields without a schema: {sorted(missing)}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "medigan model card",
        "description": "What a model is, what it was trained on and what it produces. Fields not listed here are kept "
                       "as extras (JSON values). Generated from medigan_host/cards.py; checked there in code only: "
                       + "; ".join(CODE_ONLY_RULES) + ".",
        "type": "object",
        "required": list(REQUIRED_FIELDS),
        "properties": properties,
        "$defs": {"weights_entry": weights_entry, "metric": metric},
    }


def _choice(value: Any, allowed: tuple[str, ...], name: str, fail) -> str:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise fail(name, f"must be one of {', '.join(allowed)}; got {value!r}")


def _image_size(value: Any, fail) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)) and len(value) in IMAGE_DIMENSIONS and all(_is_int(v) and v > 0 for v in value):
        return tuple(int(v) for v in value)
    raise fail("image_size", f"must be (height, width) or (depth, height, width) in positive whole numbers, got {value!r}")


def _conditions(value: Any, fail) -> dict[str, tuple[Any, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail("conditions", "must map each condition name to its list of allowed values, e.g. {'lesion': ['benign', 'malignant']}")
    out = {}
    for key, allowed in value.items():
        if not isinstance(key, str) or not _CONDITION_NAME.match(key):
            raise fail("conditions", f"condition name {key!r} must be a lower-case identifier such as 'density'")
        if isinstance(allowed, (str, bytes)) or not isinstance(allowed, (list, tuple)) or not allowed:
            raise fail("conditions", f"condition {key!r} must list its allowed values, e.g. ['a', 'b'], got {allowed!r}")
        for item in allowed:
            if not isinstance(item, (str, int, float, bool)) or (isinstance(item, float) and not math.isfinite(item)):
                raise fail("conditions", f"condition {key!r} has value {item!r}: allowed values must be strings, numbers or booleans")
        if len({str(item) for item in allowed}) != len(allowed):
            raise fail("conditions", f"condition {key!r} lists a value twice: {list(allowed)!r}")
        out[key] = tuple(allowed)
    return out


def _metrics(value: Any, fail, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail("metrics", f"{path} must map metric names to numbers or to {{'value': number, ...}}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        where = f"{path}.{key}"
        if not isinstance(key, str) or not key:
            raise fail("metrics", f"{path} has a metric name {key!r}: names must be non-empty strings")
        if _is_number(item):
            out[key] = item
        elif isinstance(item, Mapping) and "value" in item:
            if not _is_number(item["value"]):
                raise fail("metrics", f"{where}.value must be a number, got {item['value']!r}")
            if "n" in item and not (_is_int(item["n"]) and item["n"] > 0):
                raise fail("metrics", f"{where}.n must be a positive whole number, got {item['n']!r}")
            out[key] = copy.deepcopy(dict(item))
        elif isinstance(item, Mapping):
            out[key] = _metrics(item, fail, where)
        else:
            raise fail("metrics", f"{where} must be a number or {{'value': number, 'reference': ..., 'extractor': ..., "
                                  f"'n': ...}}, got {item!r}")
    return out


def _tags(value: Any, fail) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise fail("tags", f"must be a list of strings, got {value!r}")
    for tag in value:
        if not isinstance(tag, str) or not tag.strip():
            raise fail("tags", f"every tag must be a non-empty string, got {tag!r}")
    return tuple(tag.strip() for tag in value)


def _weights(value: Any, fail) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    entries = [value] if isinstance(value, Mapping) else value
    if not isinstance(entries, (list, tuple)):
        raise fail("weights", "must be a dict with url and sha256 (or doi and filename, or hf, revision, filename and "
                              "sha256), or a list of such dicts")
    out = []
    for i, entry in enumerate(entries):
        where = f"weights[{i}]"
        if not isinstance(entry, Mapping):
            raise fail("weights", f"{where} must be a dict with 'url' and 'sha256', or with 'doi' and 'filename'")
        if "folder" in entry:
            out.append(_folder_weights(entry, where, fail))
            continue
        if "doi" in entry:
            out.append(_record_weights(entry, where, fail))
            continue
        if "hf" in entry:
            out.append(_hub_weights(entry, where, fail))
            continue
        url = entry.get("url")
        if not isinstance(url, str) or not _URL.match(url):
            raise fail("weights", f"{where}.url must be an http(s)://, file:// or package:// URL, got {url!r}")
        if url.startswith("package://") and not _PACKAGE_URL.match(url):
            raise fail("weights", f"{where}.url {url!r} must look like package://python_package/folder/file.safetensors: "
                                  "an importable package, then a path inside it without '.' or '..' parts")
        checksum = {"sha256": _weights_sha256(entry, where, fail)} if entry.get("sha256") is not None or \
            entry.get("md5") is None or not url.startswith(("http://", "https://")) else {"md5": _weights_md5(entry, where, fail)}
        _weights_size(entry, where, fail)
        filename = entry.get("filename") or url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        _weights_filename(filename, where, fail)
        out.append({**entry, "url": url, **checksum, "filename": filename})
    names = [e["filename"] for e in out]
    if len(set(names)) != len(names):
        raise fail("weights", f"two weights entries share a file name: {names!r}")
    return tuple(out)


def _record_weights(entry: Mapping[str, Any], where: str, fail) -> dict[str, Any]:
    """A weights entry naming a file of a DOI record: ``doi`` and ``filename``; ``sha256`` and ``size`` optional."""
    doi = entry.get("doi")
    if not isinstance(doi, str) or not ZENODO_DOI.match(doi.strip()):
        raise fail("weights", f"{where}.doi must be a Zenodo DOI like '10.5281/zenodo.7031735', got {doi!r}")
    if "url" in entry:
        raise fail("weights", f"{where} names both a doi and a url: keep one (the doi's record says where the file is)")
    filename = entry.get("filename")
    if filename is None:
        raise fail("weights", f"{where}.filename is missing: name the file of record {doi} (its 'key' on Zenodo)")
    _weights_filename(filename, where, fail)
    out = {**entry, "doi": doi.strip(), "filename": filename}
    if entry.get("sha256") is not None:
        out["sha256"] = _weights_sha256(entry, where, fail)
    else:
        out.pop("sha256", None)
    _weights_size(entry, where, fail)
    return out


def _hub_weights(entry: Mapping[str, Any], where: str, fail) -> dict[str, Any]:
    """A weights entry naming a file of a Hugging Face Hub repository at a pinned commit: ``hf`` (``org/repo``),
    ``revision`` (the commit's 40-digit sha), ``filename`` (its path in the repository) and ``sha256``; ``size`` optional."""
    repo = entry.get("hf")
    if not isinstance(repo, str) or not HF_REPO.match(repo.strip()):
        raise fail("weights", f"{where}.hf must name a Hub repository like 'org/model-name', got {repo!r}")
    for other in ("url", "doi"):
        if other in entry:
            raise fail("weights", f"{where} names both a Hub repository and a {other}: keep one")
    revision = entry.get("revision")
    if not isinstance(revision, str) or not HF_COMMIT.match(revision.strip()):
        raise fail("weights", f"{where}.revision must be the 40-digit sha of a commit of {repo} (a branch or tag such as "
                              f"'main' can change under the card, so it is refused), got {revision!r}")
    filename = entry.get("filename")
    if not isinstance(filename, str) or not all(safe_filename(part) for part in filename.split("/")):
        raise fail("weights", f"{where}.filename {filename!r} must be a path in the repository made of plain names "
                              "(letters, digits, '.', '_', '-') separated by '/'")
    if entry.get("sha256") is None:
        raise fail("weights", f"{where}.sha256 is missing: pin the file's sha256 (the Hub shows it for LFS files; or run "
                              "`sha256sum FILE`)")
    out = {**entry, "hf": repo.strip(), "revision": revision.strip().lower(), "filename": filename,
           "sha256": _weights_sha256(entry, where, fail)}
    _weights_size(entry, where, fail)
    return out


def _folder_weights(entry: Mapping[str, Any], where: str, fail) -> dict[str, Any]:
    """A weights entry naming a local folder (a diffusers ``save_pretrained`` folder): ``folder`` (an absolute path or a
    ``file://`` URL) and ``sha256``, the digest of its files (:func:`medigan_host.weights.folder_sha256`)."""
    folder = entry.get("folder")
    path = folder[len("file://"):] if isinstance(folder, str) and folder.startswith("file://") else folder
    if not isinstance(folder, str) or not _FOLDER.match(folder):
        raise fail("weights", f"{where}.folder must be an absolute path or a file:// URL of a local folder, got {folder!r}")
    for other in ("url", "doi", "hf"):
        if other in entry:
            raise fail("weights", f"{where} names both a folder and a {other}: keep one")
    if entry.get("sha256") is None:
        raise fail("weights", f"{where}.sha256 is missing: pin the digest of the folder's files (python -c \"from "
                              f"medigan_host.weights import folder_sha256; print(folder_sha256('{path}'))\")")
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    filename = entry.get("filename") or name
    _weights_filename(filename, where, fail)
    return {**entry, "folder": folder, "sha256": _weights_sha256(entry, where, fail), "filename": filename}


def _weights_sha256(entry: Mapping[str, Any], where: str, fail) -> str:
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        raise fail("weights", f"{where}.sha256 must be 64 hexadecimal digits (run `sha256sum FILE`), got {sha!r}")
    return sha.lower()


def _weights_md5(entry: Mapping[str, Any], where: str, fail) -> str:
    """An http(s) file whose publisher gives only its md5 (as a MONAI bundle's large_files.yml does): checked against
    it on download, its sha256 recorded then and checked on every later use."""
    md5 = entry.get("md5")
    if not isinstance(md5, str) or not _MD5.match(md5):
        raise fail("weights", f"{where}.md5 must be 32 hexadecimal digits (as published with the file), got {md5!r}")
    return md5.lower()


def _weights_size(entry: Mapping[str, Any], where: str, fail) -> None:
    size = entry.get("size")
    if size is not None and not (_is_int(size) and size > 0):
        raise fail("weights", f"{where}.size must be a positive number of bytes, got {size!r}")


def _weights_filename(filename: Any, where: str, fail) -> None:
    if not isinstance(filename, str) or not safe_filename(filename):
        raise fail("weights", f"{where}.filename {filename!r} must be a plain file name (letters, digits, '.', '_', '-'; no folders)")


def upstream_number(upstream_id: str | None) -> int | None:
    """The number an original medigan model id starts with (``00001_DCGAN_MMG_CALC_ROI`` -> 1); None without one."""
    match = re.match(r"^(\d+)", upstream_id or "")
    return int(match.group(1)) if match else None


def safe_filename(name: str) -> bool:
    """True when ``name`` is a plain file name that cannot leave its folder on any platform."""
    return bool(_FILENAME.match(name)) and ".." not in name and name.split(".")[0].lower() not in _WINDOWS_RESERVED


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def card_files(*folders: Any, env: str | None = None) -> list[Any]:
    """The ``*.json`` card files in ``folders`` and in the folders listed in the environment variable ``env``
    (separated by the path separator), in that order: how plugins let a user add a model by writing only a card."""
    import os
    from pathlib import Path

    paths = [Path(f) for f in folders]
    if env:
        paths += [Path(p).expanduser() for p in os.environ.get(env, "").split(os.pathsep) if p.strip()]
    return [path for folder in paths if folder.is_dir() for path in sorted(folder.glob("*.json"))]


def read_card_file(path: Any) -> dict[str, Any]:
    """The card in JSON file ``path`` as a dict; a CardError naming the file when it is not readable JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise CardError("card", f"{path} is not a readable JSON card ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise CardError("card", f"{path} holds {type(data).__name__}, not a card (a JSON object)")
    return data
