"""``triage train``: fit the trained model from labelled files and save it with its card data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from worker.cli import get_settings

PATH = click.Path(exists=True, dir_okay=False, path_type=Path)


def mapping_options(func: Any) -> Any:
    """The column-mapping options that ``train`` and ``evaluate`` share."""
    options = [
        click.option(
            "--text-col",
            "text_cols",
            multiple=True,
            default=("text",),
            show_default=True,
            help="Column holding the text; give it twice to join two columns (title, detail).",
        ),
        click.option(
            "--labels-col",
            default="labels",
            show_default=True,
            help="Column holding the labels: a list (JSONL) or values split by ; , or |.",
        ),
        click.option(
            "--label-map",
            multiple=True,
            metavar="VALUE=CATEGORY[+CATEGORY]",
            help="Map a label value to categories, e.g. 1=spam, OFF=abusive, 0= (none).",
        ),
        click.option(
            "--no-header",
            is_flag=True,
            help="The CSV has no header row: name columns by position (0, 1, ...).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def read_files(
    files: tuple[Path, ...],
    text_cols: tuple[str, ...],
    labels_col: str,
    label_map: tuple[str, ...],
    no_header: bool,
) -> list[Any]:
    """Examples from every file, or a usage error naming the bad file and line."""
    from classifiers.training import ColumnMapping, DatasetError, read_labelled

    try:
        mapping = ColumnMapping.parse(text_cols, labels_col, label_map, not no_header)
        return [e for path in files for e in read_labelled(path, mapping)]
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from None


@click.command("train")
@click.option("--data", "files", multiple=True, type=PATH, help="A labelled CSV/TSV/JSONL file.")
@mapping_options
@click.option(
    "--shared",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also train on the standard mix of public data sets in this folder (../shared/data).",
)
@click.option(
    "--labels",
    "corrections",
    multiple=True,
    type=PATH,
    help='Officers\' corrections: JSONL of {"text", "labels"}, added to the training data.',
)
@click.option(
    "--council/--no-council",
    default=None,
    help="Add the council-domain examples kept in the repo (default: with --shared).",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, help="Seed for sampling and fitting.")
@click.option(
    "--holdout",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 0.3),
    help="Share of each source kept back for thresholds and again for the test scores.",
)
@click.option(
    "--word-vectors/--no-word-vectors",
    default=True,
    show_default=True,
    help="Add word vectors distilled from the bundled MiniLM model (needs the embeddings extra).",
)
@click.pass_context
def command(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    files: tuple[Path, ...],
    text_cols: tuple[str, ...],
    labels_col: str,
    label_map: tuple[str, ...],
    no_header: bool,
    shared: Path | None,
    corrections: tuple[Path, ...],
    council: bool | None,
    out: Path,
    seed: int,
    holdout: float,
    word_vectors: bool,
) -> None:
    """Train the multi-label model on labelled files and save it to OUT.

    Prints the held-out scores; ``model.json`` beside the model keeps them with the
    counts per source, the seed and the thresholds.
    """
    get_settings(ctx)
    from classifiers.training import (
        ColumnMapping,
        DatasetError,
        load_shared,
        read_labelled,
        save,
        train,
    )
    from classifiers.training import council as council_examples

    examples = read_files(files, text_cols, labels_col, label_map, no_header)
    if shared is not None:
        examples += load_shared(shared, seed=seed)
    try:
        for path in corrections:
            examples += read_labelled(path, ColumnMapping(), source="corrections")
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from None
    use_council = shared is not None if council is None else council
    council_test = []
    if use_council:
        examples += council_examples("train")
        council_test = council_examples("test")
    if not examples:
        raise click.UsageError("nothing to train on: give --data FILE, --shared DIR or --labels")
    click.echo(f"training on {len(examples)} texts (seed {seed})", err=True)
    try:
        result = train(
            examples,
            seed=seed,
            holdout=holdout,
            extra_test=council_test,
            word_vectors=word_vectors,
            cache_dir=cache_dir(),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except RuntimeError as exc:  # the embeddings extra is not installed
        raise click.ClickException(f"{exc}; or train with --no-word-vectors") from None
    files_meta = {"files": [p.name for p in files], "corrections": [p.name for p in corrections]}
    path = save(result, out, {"inputs": files_meta})
    for name in ("test", "council_test"):
        scores = result.meta.get(name, {}).get("all")
        if scores:
            click.echo(f"\n{name.replace('_', ' ')} (held out)")
            click.echo(_table(scores))
    click.echo(f"\nsaved {path} ({path.stat().st_size / 1e6:.1f} MB)")


def cache_dir() -> Path:
    """Where built word-vector tables are kept between runs (the XDG cache folder)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "council-triage"


def _table(scores: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'category':<16}{'thresh':>7}{'n':>7}{'prec':>7}{'recall':>7}{'f1':>7}{'auc':>7}"]
    for category, s in scores.items():
        auc = "-" if s["auc"] is None else f"{s['auc']:.3f}"
        lines.append(
            f"{category:<16}{s['threshold']:>7.2f}{s['support']:>7}{s['precision']:>7.3f}"
            f"{s['recall']:>7.3f}{s['f1']:>7.3f}{auc:>7}"
        )
    return "\n".join(lines)
