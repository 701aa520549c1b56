"""``triage evaluate``: score the trained model on any labelled file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from classifiers import Classifier, load_policy
from classifiers.shipped import ShippedModel
from classifiers.trained import ModelError
from classifiers.training import council, load_shared, split
from classifiers.training.crosssource import cross_source, mix, seed_spread
from classifiers.training.dataset import label_matrix
from classifiers.training.evaluation import confusions, format_report, score, scores_by_source
from classifiers.training.sources import held_out_sets
from records import CATEGORIES
from worker.cli import get_settings
from worker.cli.train import PATH, cache_dir, mapping_options, read_files


@click.command("evaluate")
@click.option("--data", "files", multiple=True, type=PATH, help="A labelled CSV/TSV/JSONL file.")
@mapping_options
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Model directory (default: the configured TRIAGE_MODEL_DIR).",
)
@click.option(
    "--shared",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Score on the held-out part of the standard mix from this folder (../shared/data), "
    "split as the model's training split it, and on the council test file.",
)
@click.option(
    "--cross-source",
    is_flag=True,
    help="With --shared: also retrain without each public data set and score on it (slow).",
)
@click.option(
    "--weigh-sources",
    is_flag=True,
    help="With --cross-source: blend and cut with every source weighing the same.",
)
@click.option(
    "--seeds",
    default="",
    metavar="0,1,2",
    help="With --shared: the reduced recipe once per seed, each scored on its own "
    "held-out part (slow).",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the scores as JSON here too.",
)
@click.pass_context
def command(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    files: tuple[Path, ...],
    text_cols: tuple[str, ...],
    labels_col: str,
    label_map: tuple[str, ...],
    no_header: bool,
    model_dir: Path | None,
    shared: Path | None,
    cross_source: bool,
    weigh_sources: bool,
    seeds: str,
    json_out: Path | None,
) -> None:
    """Print per-category precision, recall, F1, ROC AUC and confusions for labelled data.

    Uses the model's own thresholds. With several files, each is scored alone and then
    all together.
    """
    settings = get_settings(ctx)
    if not files and shared is None:
        raise click.UsageError("give --data FILE and/or --shared DIR")
    if (cross_source or seeds) and shared is None:
        raise click.UsageError("--cross-source and --seeds need --shared DIR")
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(
            "a comma-separated list of integers", param_hint="--seeds"
        ) from None
    try:
        model = ShippedModel.load(model_dir or settings.model_dir, threads=settings.torch_threads)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    if model.degraded:
        click.echo(f"transformer unavailable ({model.degraded}): the linear part alone", err=True)
    whole = Classifier(model, load_policy(settings.policy))
    thresholds: dict[str, dict[str, float]] = {
        **_thresholds(model),
        "classifier": {str(c): t for c, t in whole.thresholds.items()},
    }
    report: dict[str, object] = {"model": model.version, "thresholds": thresholds}
    groups: list[tuple[str, tuple[Path, ...]]] = [(p.name, (p,)) for p in files]
    if len(files) > 1:
        groups.append(("all files", files))
    for name, paths in groups:
        examples = read_files(paths, text_cols, labels_col, label_map, no_header)
        report[name] = _score_file(name, whole, examples, thresholds)
    if shared is not None:
        report["held_out"] = _held_out(whole, shared, thresholds)
    if cross_source and shared is not None:
        report["cross_source"] = _cross_source(
            shared, int(model.info.get("seed", 0)), weigh_sources
        )
    if seed_list and shared is not None:
        report["seeds"] = _seed_spread(shared, seed_list)
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _parts_proba(whole: Any, texts: list[str]) -> dict[str, Any]:
    """Each part's probabilities, and the whole classifier's scores (rules and policy too)."""
    parts: dict[str, Any] = whole.model.predict_parts(texts)
    verdicts = whole.classify(texts)
    parts["classifier"] = np.asarray([[v.scores[c] for c in CATEGORIES] for v in verdicts])
    return parts


def _score_file(
    name: str, whole: Any, examples: list[Any], thresholds: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Each part's scores and confusions on one labelled file, printed as it goes."""
    Y = label_matrix(examples)
    out: dict[str, Any] = {}
    for part, proba in _parts_proba(whole, [e.text for e in examples]).items():
        scores = score(Y, proba, thresholds[part])
        confusion = confusions(Y, proba, thresholds[part])
        click.echo(f"\n{name}: {len(examples)} texts, {part}")
        click.echo(format_report(scores, confusion))
        out[part] = {"scores": {c: s.as_dict() for c, s in scores.items()}, "confusions": confusion}
    return out


_HEADER = (
    f"{'source/part':<30}{'category':<16}{'n':>6}{'prec':>7}{'recall':>7}{'f1':>7}"
    f"{'mF1':>7}{'auc':>7}"
)


def _thresholds(model: Any) -> dict[str, dict[str, float]]:
    """Each part's own thresholds from model.json (the combined ones are the model's)."""
    saved = model.info.get("thresholds", {})
    return {part: dict(saved.get(part, model.thresholds)) for part in _parts(model)}


def _parts(model: Any) -> tuple[str, ...]:
    return ("linear",) if model.transformer is None else ("transformer", "linear", "combined")


def _row(source: str, category: str, r: dict[str, Any]) -> str:
    auc = "-" if r["auc"] is None else f"{r['auc']:.3f}"
    return (
        f"{source:<30}{category:<16}{r['support']:>6}{r['precision']:>7.3f}"
        f"{r['recall']:>7.3f}{r['f1']:>7.3f}{r['macro_f1']:>7.3f}{auc:>7}"
    )


def _held_out(whole: Any, shared: Path, thresholds: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Scores on the test part of the standard mix, re-split with the model's own seed,
    and on the held-out sets (the council test file, BANKING77's and the customer-care
    tweets' own test splits)."""
    model = whole.model
    seed = int(model.info.get("seed", 0))
    holdout = float(model.info.get("holdout", 0.1))
    examples = load_shared(shared, seed=seed) + council("train")
    test = split(examples, seed, holdout)[2]
    test += [replace(e, source="council-test") for e in council("test")]
    test += [e for extra in held_out_sets(shared).values() for e in extra]
    parts = _parts_proba(whole, [e.text for e in test])
    results: dict[str, Any] = {}
    click.echo(f"\nheld out (seed {seed}, test share {holdout}, and the held-out sets)")
    click.echo(_HEADER)
    for part, proba in parts.items():
        results[part] = scores_by_source(test, proba, thresholds[part])
        for source, per in results[part].items():
            for category, r in per.items():
                if isinstance(r, dict):
                    click.echo(_row(f"{source}/{part}", category, r))
            rates = {k: v for k, v in per.items() if not isinstance(v, dict)}
            if rates:
                click.echo(
                    f"{source + '/' + part:<30}" + "  ".join(f"{k} {v}" for k, v in rates.items())
                )
    return results


def _seed_spread(shared: Path, seeds: list[int]) -> dict[str, Any]:
    """The reduced recipe per seed; prints each source's F1 per seed, mean and range."""
    # The mix is drawn once (seed 0) so that the frozen vectors are computed once.
    spread = seed_spread(
        mix(shared), seeds=seeds, cache_dir=cache_dir(), progress=lambda m: click.echo(m, err=True)
    )
    click.echo(f"\nseed spread (reduced recipe, seeds {', '.join(map(str, seeds))}): F1")
    click.echo(
        f"{'source/part':<30}{'category':<16}"
        + "".join(f"{s:>7}" for s in seeds)
        + "   mean  range"
    )
    first = spread[seeds[0]]
    for source, parts in first.items():
        for part, per in parts.items():
            for category in per:
                f1 = [spread[s][source][part][category]["f1"] for s in seeds]
                click.echo(
                    f"{source + '/' + part:<30}{category:<16}"
                    + "".join(f"{v:>7.3f}" for v in f1)
                    + f"{sum(f1) / len(f1):>7.3f}{max(f1) - min(f1):>7.3f}"
                )
    return {str(seed): per for seed, per in spread.items()}


def _cross_source(shared: Path, seed: int, weigh_sources: bool = False) -> dict[str, Any]:
    """Trained without each source, scored on it (reduced recipe); printed as a table."""
    results = cross_source(
        mix(shared, seed),
        seed=seed,
        cache_dir=cache_dir(),
        progress=lambda m: click.echo(m, err=True),
        weigh_sources=weigh_sources,
    )
    click.echo("\ncross-source (trained without the source, scored on it; reduced recipe)")
    click.echo(_HEADER)
    for source, parts in results.items():
        for part, per in parts.items():
            for category, r in per.items():
                click.echo(_row(f"{source}/{part}", category, r))
    return results
