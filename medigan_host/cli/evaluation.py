"""Evaluation: ``medigan evaluate``, ``extractors`` and ``study fid``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import click

from ..evaluation import DEFAULT_EXTRACTOR
from .base import IntRange, cli, emit_json, split_list
from .output import table


def _output_folder(output_dir: str | None, option: str = "-o") -> None:
    """``-o`` names a folder: refuse a file (or a *.json name, the old meaning) with the option that writes one."""
    from pathlib import Path

    from ..errors import MediganUsageError

    if output_dir is None:
        return
    path = Path(output_dir)
    if path.is_file() or (not path.exists() and path.suffix.lower() in (".json", ".csv")):
        raise MediganUsageError(f"{option} {output_dir} names a folder to write the results into; to write the records "
                                f"to one file, use --output-file {output_dir}")


def _echo_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    from ..evaluation.evaluate import EvaluationWarning

    for warning in caught:
        if issubclass(warning.category, EvaluationWarning):
            click.echo(f"warning: {warning.message}", err=True)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


def _list_extractors_moved(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        raise click.UsageError("--list-extractors was replaced by `medigan extractors` (with --json for JSON)")


@cli.command("evaluate")
@click.argument("model", required=False)
@click.option("--real", "real_dir", type=click.Path(),
              help="Folder of real images (PNG, JPEG, TIFF, NPY, DICOM, NIfTI), or a run folder medigan wrote.")
@click.option("--fake", "fake_dir", type=click.Path(),
              help="Folder of generated images (instead of MODEL); a run folder medigan wrote is read in manifest order.")
@click.option("-n", "--num-samples", type=IntRange(min=2),
              help="Images of MODEL to generate (default: as many as --real has), or the first N of --fake.")
@click.option("--extractor", default=DEFAULT_EXTRACTOR, show_default=True,
              help="Feature extractor (`medigan extractors`); inception-v3-fid gives FIDs comparable with published ones.")
@click.option("--normalization", help="unit, symmetric, imagenet or radimagenet (default: the extractor's own).")
@click.option("--resize", help="bilinear, bicubic or antialias (default: the extractor's own).")
@click.option("--window", metavar="LOW,HIGH|minmax",
              help="Intensity window mapped to [0, 1] for both sets (default: each set's own: the card's display_range, "
                   "a DICOM/NIfTI window, or the dtype's range).")
@click.option("--extractor-weights", type=click.Path(dir_okay=False), help="Use this weights file (its sha256 is recorded).")
@click.option("--metric", "metrics", multiple=True,
              type=click.Choice(["fid", "kid", "precision", "recall", "memorization", "memorisation"]),
              help="Metrics to compute (repeatable; default: fid, kid, precision, recall; memorisation = memorization).")
@click.option("--holdout", "holdout_dir", type=click.Path(),
              help="With --metric memorization: real images the model never saw (--real being its training images).")
@click.option("--seed", type=IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed of MODEL's images.")
@click.option("--batch-size", type=IntRange(min=1), default=50, show_default=True,
              help="Images per batch through the model and the feature extractor.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cached statistics of the real images.")
@click.option("-o", "--output", "output_dir", type=click.Path(),
              help="Folder to write evaluation.json (the records) into, and memorization.png with --metric memorization.")
@click.option("--output-file", type=click.Path(dir_okay=False), help="Write the result records to this one JSON file.")
@click.option("--write-card", type=click.Path(dir_okay=False), help="Put the values into the metrics of this JSON card.")
@click.option("--reference", help="Name of the real image set in --write-card metrics (default: the --real folder).")
@click.option("--list-extractors", is_flag=True, hidden=True, expose_value=False, is_eager=True,
              callback=_list_extractors_moved)
@click.option("--json", "as_json", is_flag=True, help="Print the result records as JSON.")
def evaluate_command(model: str | None, real_dir: str | None, fake_dir: str | None, num_samples: int | None, extractor: str,
                     normalization: str | None, resize: str | None, window: str | None, extractor_weights: str | None,
                     metrics: tuple[str, ...], holdout_dir: str | None, seed: int, batch_size: int, device: str,
                     no_cache: bool, output_dir: str | None, output_file: str | None, write_card: str | None,
                     reference: str | None, as_json: bool) -> None:
    """FID, KID, precision/recall (and memorisation) of MODEL's images (or --fake DIR) against --real DIR."""
    from pathlib import Path

    from ..evaluation.evaluate import METRICS, evaluate
    from ..evaluation.records import write_card as write_card_metrics
    from ..evaluation.records import write_json

    if real_dir is None:
        raise click.UsageError("give --real DIR: the folder of real images to compare with")
    _output_folder(output_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = evaluate(real=real_dir, model=model, fake=fake_dir, n=num_samples, extractor=extractor,
                           normalization=normalization, resize=resize, metrics=metrics or METRICS, seed=seed,
                           batch_size=batch_size, device=device, weights_file=extractor_weights, use_cache=not no_cache,
                           window=window, holdout=holdout_dir, output_dir=output_dir)
    _echo_warnings(caught)
    written = []
    if output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        write_json(records, Path(output_dir) / "evaluation.json")
        written.append((Path(output_dir) / "evaluation.json", "records"))
        written += [(r.details["grid"], "closest pairs") for r in records if "grid" in r.details]
    if output_file:
        write_json(records, output_file)
        written.append((output_file, "records"))
    if write_card:
        write_card_metrics(records, write_card, reference)
        written.append((write_card, "card metrics"))
    if as_json:
        emit_json([r.to_dict() for r in records])
        return
    first = records[0]
    about = first.extractor
    click.echo(f"extractor {about['extractor']} (weights sha256 {about['extractor_weights_sha256'][:12]}), "
               f"normalisation {about['normalization']}, resize {about['resize']}")
    for name, side in (("generated", first.fake), ("real", first.real)):
        if side.get("window"):
            click.echo(f"{name} images windowed to {side['window']['low']:g}..{side['window']['high']:g}: "
                       f"{side['window']['source']}"
                       if side["window"]["low"] is not None else f"{name} images: {side['window']['source']}")
    rows = [(r.metric, f"{r.value:.6g}", f"{r.details['std']:.3g}" if "std" in r.details else "-", r.fake["n"], r.real["n"])
            for r in records]
    click.echo(table(rows, ["METRIC", "VALUE", "STD", "N_FAKE", "N_REAL"]))
    for record in records:
        if record.metric == "memorization":
            d = record.details
            held = (f"; held-out real images flagged by the same test: {d['holdout_copies']:.3g}"
                    if d.get("holdout_copies") is not None else "")
            click.echo(f"memorization: authenticity {d['authenticity']:.3g} ({d['copies']} of {d['n_fake_used']} samples "
                       f"closer to a real image than real images are to each other){held}; alpha-precision "
                       f"{d['alpha_precision']:.3g}, beta-recall {d['beta_recall']:.3g}")
            test = (f" (p = {d['p_value']:.2g}, effect size A = {d['effect_size']:.2f}: generated samples' nearest-"
                    f"training distances against held-out images')" if "p_value" in d else f": {d.get('reason', '')}")
            click.echo(f"memorization verdict: {d['verdict']}{test}")
        elif record.metric == "fid" and record.details.get("fid_infinity") is not None:
            click.echo(f"fid_infinity {record.details['fid_infinity']:.6g} (FID extrapolated to infinitely many images, "
                       f"Chong and Forsyth 2020; FID at n = {record.fake['n']}: {record.value:.6g})")
    if any(r.metric == "fid" for r in records):
        why_not = about.get("not_comparable_because")
        click.echo("FID comparable with published FIDs: " + (f"yes ({about.get('comparable_basis')})" if not why_not
                                                             else f"no, {why_not}"))
    for path, what in written:
        click.echo(f"{what} written to {path}")


@cli.command("extractors")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def extractors_command(as_json: bool) -> None:
    """List the feature extractors for `medigan evaluate` (no framework is imported).

    COMPARABLE says whether its FIDs, with its own preprocessing and published weights, compare with published ones.
    """
    from ..evaluation.extractors import list_extractors

    specs = list_extractors()
    if as_json:
        emit_json([s.to_dict() for s in specs])
        return
    rows = [(s.name, s.framework, "x".join(map(str, s.input_size)) + f"x{s.channels}", s.feature_dim, s.normalization,
             s.resize, "yes" if s.weights else ("none needed" if not s.needs_weights else "give a file"),
             "yes" if s.comparable else "no", s.plugin) for s in specs]
    click.echo(table(rows, ["NAME", "FRAMEWORK", "INPUT", "DIM", "NORMALIZATION", "RESIZE", "WEIGHTS", "COMPARABLE",
                            "PLUGIN"]))
    click.echo("\nget the weights once, e.g. for offline use: medigan fetch --extractor inception-v3-fid")


@cli.group("study")
def study_group() -> None:
    """Studies over several models and evaluation settings."""


def _weights_files(values: Sequence[str], extractors: Sequence[str]) -> dict[str, str]:
    """--extractor-weights NAME=FILE (repeatable), or a bare FILE when one extractor is studied."""
    from ..errors import MediganUsageError

    out: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            if len(extractors) != 1:
                raise MediganUsageError(f"--extractor-weights {value}: name the extractor it is for, as NAME=FILE "
                                        f"(studied: {', '.join(extractors)})")
            name, path = extractors[0], value
        if name not in extractors:
            raise MediganUsageError(f"--extractor-weights {value}: {name!r} is not among --extractors "
                                    f"({', '.join(extractors)})")
        out[name] = path
    return out


@study_group.command("fid")
@click.option("--models", "models", multiple=True, required=True, metavar="ID[,ID…]", help="Models to compare (repeatable).")
@click.option("--real", "real_dir", required=True, type=click.Path(), help="Folder of real images (or a run folder).")
@click.option("--extractors", "extractors", multiple=True, metavar="NAME[,NAME…]", help=f"Extractors [default: {DEFAULT_EXTRACTOR}]")
@click.option("--extractor-weights", "extractor_weights", multiple=True, metavar="NAME=FILE",
              help="Weights file of an extractor (repeatable), e.g. radimagenet-resnet50=RadImageNet-ResNet50.pth; "
                   "a bare FILE when one extractor is studied.")
@click.option("--normalizations", "normalizations", multiple=True, metavar="NAME[,NAME…]",
              help="unit, symmetric, imagenet, radimagenet [default: each extractor's own]; combinations an extractor "
                   "cannot take are skipped with a note.")
@click.option("--resize", help="bilinear, bicubic or antialias (default: each extractor's own).")
@click.option("--window", metavar="LOW,HIGH|minmax", help="Intensity window of both sets (default: each set's own).")
@click.option("-n", "--num-samples", type=IntRange(min=2), default=100, show_default=True, help="Images per model.")
@click.option("--seed", type=IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed of every model's images.")
@click.option("--batch-size", type=IntRange(min=1), default=50, show_default=True,
              help="Images per batch through the models and the feature extractors.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("-o", "--output", "output_dir", type=click.Path(), help="Folder to write study.csv, study.json, study.png into.")
@click.option("--output-file", type=click.Path(dir_okay=False), help="Write the result records to this one JSON file.")
@click.option("--no-plot", is_flag=True, help="Do not draw study.png (no matplotlib needed).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cached statistics of the real images.")
@click.option("--json", "as_json", is_flag=True, help="Print the result records as JSON.")
def study_fid_command(models: tuple[str, ...], real_dir: str, extractors: tuple[str, ...], extractor_weights: tuple[str, ...],
                      normalizations: tuple[str, ...], resize: str | None, window: str | None, num_samples: int, seed: int,
                      batch_size: int, device: str, output_dir: str | None, output_file: str | None, no_plot: bool,
                      no_cache: bool, as_json: bool) -> None:
    """FID of every model x extractor x normalisation against --real: a table, and CSV/JSON/PNG with -o."""
    from ..evaluation.records import write_json
    from ..evaluation.study import COLUMNS, fid_study, write_outputs

    _output_folder(output_dir)
    names = split_list(extractors) or [DEFAULT_EXTRACTOR]
    result = fid_study(split_list(models), real_dir, n=num_samples, extractors=names,
                       normalizations=split_list(normalizations) or None, resize=resize, seed=seed, batch_size=batch_size,
                       device=device, weights_files=_weights_files(extractor_weights, names), use_cache=not no_cache,
                       window=window)
    written = write_outputs(result, output_dir, plot=not no_plot) if output_dir else []
    if output_file:
        write_json(result.records, output_file)
        written.append(output_file)
    if as_json:
        emit_json([r.to_dict() for r in result.records])
        return
    click.echo(table(result.table_rows(), [c.upper() for c in COLUMNS if c != "extractor_weights_sha256"]))
    for note in result.notes:
        click.echo(f"skipped: {note}")
    for path in written:
        click.echo(f"wrote {path}")
