"""Export the trained generator to ONNX and check that onnxruntime gives the same images as PyTorch.

    python training/export_onnx.py training/output/generator.safetensors --out training/output/generator.onnx
    python training/export_onnx.py --model fastgan training/output-fastgan/generator.safetensors --out fastgan.onnx

The graph takes ``z`` (N, latent_dim) float32 (100 for the DCGAN, 1024 for the FastGAN-style network) and returns
``images`` (N, 3, H, W) in [-1, 1] (tanh; 64x64 for the DCGAN, 128x128 for the other), batch size dynamic;
the medigan ONNX runner maps it to (N, 64, 64, 3) float32 in [0, 1] as the card's ``onnx`` section says. The legacy
TorchScript exporter is used (``dynamo=False``) with all weights inside the one file (``external_data=False``);
eval-mode batch norm is folded into the convolutions. Prints and saves (``export.json``) the largest difference to
PyTorch on [0, 1] images and the sha256 and size of both files, which the model cards record.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from medigan_plugin_histology_dcgan.torch_model import NETWORKS
from safetensors.torch import load_file

OPSET = 17
TOLERANCE = 1e-4  # largest allowed |onnx - torch| on [0, 1] images


def file_facts(path: Path) -> dict:
    data = path.read_bytes()
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}



def network_options(text: str) -> dict:
    """``--network-options``: a JSON object, as the card's ``network_options`` field."""
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}); give an object such as '{{\"latent_scale\": 0.7}}'") from exc
    if not isinstance(options, dict):
        raise argparse.ArgumentTypeError("must be a JSON object such as '{\"latent_scale\": 0.7}'")
    return options


def add_network_options_argument(parser: argparse.ArgumentParser) -> None:
    """``--network-options``, which the export, evaluation and grid scripts all take."""
    parser.add_argument("--network-options", type=network_options, default={},
                        help="JSON object of the network's options, as the card's network_options (default: {})")


def export(weights: Path, out: Path, model: str = "dcgan", **options: object) -> dict:
    """``options``: the network's keyword arguments, as the card's ``network_options`` (e.g. ``latent_scale``, which
    the graph then applies to ``z`` itself)."""
    net = NETWORKS[model](**options)
    net.load_state_dict(load_file(str(weights)))
    net.eval()
    example = torch.zeros(2, net.latent_dim)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is chosen on purpose
        torch.onnx.export(net, (example,), str(out), input_names=["z"], output_names=["images"],
                          dynamic_axes={"z": {0: "n"}, "images": {0: "n"}}, opset_version=OPSET, do_constant_folding=True,
                          dynamo=False, external_data=False)
    return compare(net, out)


def compare(net: torch.nn.Module, onnx_file: Path, n: int = 256) -> dict:
    """Largest |difference| between PyTorch and onnxruntime on [0, 1] images of ``n`` random latents."""
    import onnxruntime as ort

    z = np.random.default_rng(0).standard_normal((n, net.latent_dim)).astype(np.float32)
    with torch.inference_mode():
        reference = ((net(torch.from_numpy(z)) + 1) * 0.5).clamp(0, 1).numpy()
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (raw,) = session.run(["images"], {"z": z})
    diff = float(np.abs(np.clip((raw + 1) * 0.5, 0, 1) - reference).max())
    return {"max_abs_diff_unit_images": diff, "n": n, "tolerance": TOLERANCE, "opset": OPSET, "torch": torch.__version__,
            "onnxruntime": ort.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, help="generator.safetensors written by train.py")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx file")
    parser.add_argument("--model", choices=sorted(NETWORKS), default="dcgan", help="which network the weights are of")
    add_network_options_argument(parser)
    args = parser.parse_args()
    report = export(args.weights, args.out, args.model, **args.network_options)
    report["network_options"] = args.network_options
    report["files"] = [file_facts(args.weights), file_facts(args.out)]
    (args.out.parent / "export.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if report["max_abs_diff_unit_images"] > TOLERANCE:
        raise SystemExit(f"ONNX differs from PyTorch by {report['max_abs_diff_unit_images']:.2e} > {TOLERANCE}")


if __name__ == "__main__":
    main()
