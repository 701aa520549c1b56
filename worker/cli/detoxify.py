"""``triage detoxify convert``: a detoxify checkpoint as safetensors, loaded with no pickle."""

from __future__ import annotations

from pathlib import Path

import click

from classifiers.detox import DetoxifyError
from classifiers.detox import convert as convert_checkpoint


@click.group("detoxify")
def command() -> None:
    """detoxify's weights (docs/detoxify.md)."""


@command.command("convert")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--sha256",
    envvar="TRIAGE_DETOXIFY_SHA256",
    default=None,
    help="The checkpoint's full SHA-256, checked by you; needed if it loads only with pickle.",
)
def convert(checkpoint: Path, out: Path, sha256: str | None) -> None:
    """Write CHECKPOINT as OUT (.safetensors) and print OUT's SHA-256.

    Point TRIAGE_DETOXIFY_CHECKPOINT at OUT afterwards: it holds tensors and JSON only.
    """
    try:
        digest = convert_checkpoint(checkpoint, out, sha256=sha256)
    except DetoxifyError as exc:
        raise click.ClickException(str(exc)) from None
    except ImportError as exc:  # pragma: no cover - the detoxify extra is not installed
        raise click.ClickException(f"detoxify is not installed ({exc.name})") from None
    click.echo(f"wrote {out}", err=True)
    click.echo(digest)
