"""``triage evaluate``: score the trained model on any labelled file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

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
    json_out: Path | None,
) -> None:
    """Print per-category precision, recall, F1, ROC AUC and confusions for labelled data.

    Uses the model's own thresholds. With several files, each is scored alone and then
    all together.
    """
    settings = get_settings(ctx)
    if not files and shared is None:
        raise click.UsageError("give --data FILE and/or --shared DIR")
    if cross_source and shared is None:
        raise click.UsageError("--cross-source needs --shared DIR")
    from classifiers.trained import ModelError, TrainedModel
    from classifiers.training.dataset import label_matrix
    from classifiers.training.evaluation import confusions, format_report, score

    try:
        model = TrainedModel.load(model_dir or settings.model_dir)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    report: dict[str, object] = {"model": model.version, "thresholds": model.thresholds}
    groups: list[tuple[str, tuple[Path, ...]]] = [(p.name, (p,)) for p in files]
    if len(files) > 1:
        groups.append(("all files", files))
    for name, paths in groups:
        examples = read_files(paths, text_cols, labels_col, label_map, no_header)
        Y = label_matrix(examples)
        proba = model.predict_proba([e.text for e in examples])
        scores = score(Y, proba, model.thresholds)
        confusion = confusions(Y, proba, model.thresholds)
        click.echo(f"\n{name}: {len(examples)} texts, model {model.version}")
        click.echo(format_report(scores, confusion))
        report[name] = {
            "scores": {c: s.as_dict() for c, s in scores.items()},
            "confusions": confusion,
        }
    if shared is not None:
        report["held_out"] = _held_out(model, shared)
    if cross_source and shared is not None:
        from classifiers.training.crosssource import cross_source as run_cross_source

        results = run_cross_source(
            shared,
            model.thresholds,
            cache_dir=cache_dir(),
            progress=lambda m: click.echo(m, err=True),
        )
        click.echo("\ncross-source (trained without the source, scored on it)")
        click.echo(
            f"{'source':<14}{'category':<16}{'n':>6}{'prec':>7}{'recall':>7}{'f1':>7}"
            f"{'mF1':>7}{'auc':>7}"
        )
        for source, per in results.items():
            for category, r in per.items():
                click.echo(_row(source, category, r))
        report["cross_source"] = results
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _row(source: str, category: str, r: dict[str, Any]) -> str:
    auc = "-" if r["auc"] is None else f"{r['auc']:.3f}"
    return (
        f"{source:<14}{category:<16}{r['support']:>6}{r['precision']:>7.3f}"
        f"{r['recall']:>7.3f}{r['f1']:>7.3f}{r['macro_f1']:>7.3f}{auc:>7}"
    )


def _held_out(model: Any, shared: Path) -> dict[str, Any]:
    """Scores on the test part of the standard mix, re-split with the model's own seed."""
    from classifiers.training import council, load_shared, split
    from classifiers.training.pipeline import evaluate_by_source

    seed = int(model.info.get("seed", 0))
    holdout = float(model.info.get("holdout", 0.1))
    examples = load_shared(shared, seed=seed) + council("train")
    council_test = [replace(e, source="council-test") for e in council("test")]
    test = split(examples, seed, holdout)[2] + council_test
    results: dict[str, Any] = evaluate_by_source(model.estimator, test, model.thresholds)
    click.echo(f"\nheld out (seed {seed}, test share {holdout}, and the council test file)")
    click.echo(
        f"{'source':<14}{'category':<16}{'n':>6}{'prec':>7}{'recall':>7}{'f1':>7}"
        f"{'mF1':>7}{'auc':>7}"
    )
    for source, per in results.items():
        for category, r in per.items():
            if isinstance(r, dict):
                click.echo(_row(source, category, r))
    return results
