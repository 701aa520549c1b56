"""``triage classify``: JSON Lines of texts in, one JSON line of verdict out per input line.

Offline, with the shipped model (and detoxify when configured). Output keeps the input's
order. A line that cannot be classified gives an error line carrying its id (or its line
number) and the rest carry on; the exit status is non-zero only when nothing in the input
could be read as JSON Lines, or the classifier cannot start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import click
from pydantic import ValidationError

from classifiers import ClassifierError, load
from records import MAX_TEXT_CHARS, Comment, Verdict
from worker.cli import get_settings

CHUNK = 256
"""Input lines classified together: big enough to batch, small enough to stream."""


@dataclass(frozen=True, slots=True)
class Parsed:
    line: int
    id: Any = None
    item: str | Comment | None = None
    error: str | None = None
    json_ok: bool = True


def parse_line(number: int, raw: bytes) -> Parsed:
    """One input line as something to classify, or the error that line gets."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Parsed(number, error="not UTF-8", json_ok=False)
    except json.JSONDecodeError as exc:
        return Parsed(number, error=f"not JSON: {exc.msg} at column {exc.colno}", json_ok=False)
    if not isinstance(obj, dict):
        return Parsed(number, error=f"expected a JSON object, got {type(obj).__name__}")
    return _from_object(number, obj)


def _from_object(number: int, obj: dict[str, Any]) -> Parsed:
    ident = obj.get("id")
    text = obj.get("text")
    problem = None
    if not isinstance(text, str):
        problem = "missing text" if text is None else "text must be a string"
    elif len(text) > MAX_TEXT_CHARS:
        problem = f"text longer than {MAX_TEXT_CHARS} characters"
    elif "author" in obj:  # a whole Comment: its kind tells a private message from a post
        try:
            return Parsed(number, ident, Comment.model_validate({"schema": 1, **obj}))
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            problem = f"invalid comment field {where}"
    if problem is not None:
        return Parsed(number, ident, error=problem)
    return Parsed(number, ident, text)


def verdict_line(parsed: Parsed, verdict: Verdict) -> dict[str, Any]:
    out: dict[str, Any] = {"id": parsed.id}
    if parsed.id is None:
        out["line"] = parsed.line
    body = verdict.model_dump(mode="json", exclude={"schema_version"})
    out.update(
        labels=body["labels"],
        scores=body["scores"],
        lane=body["lane"],
        lanes=body["lanes"],
        reasons=body["reasons"],
        actions=body["actions"],
        signals=body["signals"],
        model=body["model"],
    )
    return out


def error_line(parsed: Parsed) -> dict[str, Any]:
    if parsed.id is not None:
        return {"id": parsed.id, "error": parsed.error}
    return {"line": parsed.line, "error": parsed.error}


def _numbered(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            yield number, raw


def _chunks(lines: Iterable[tuple[int, bytes]]) -> Iterator[list[Parsed]]:
    chunk: list[Parsed] = []
    for number, raw in lines:
        chunk.append(parse_line(number, raw))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@click.command()
@click.option(
    "--input",
    "input_file",
    type=click.File("rb"),
    default="-",
    show_default=True,
    help="JSON Lines file of {id, text, ...}; - reads standard input.",
)
@click.option(
    "--output",
    "output_file",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    show_default=True,
    help="Where the verdicts go; - writes standard output.",
)
@click.pass_context
def command(ctx: click.Context, input_file: IO[bytes], output_file: IO[str]) -> None:
    """Classify JSON Lines of texts; one verdict line per input line, in order."""
    settings = get_settings(ctx)
    try:
        classifier = load(settings)
    except ClassifierError as exc:
        click.echo(f"triage classify: {exc}", err=True)
        ctx.exit(1)
    seen = readable = 0
    for chunk in _chunks(_numbered(input_file)):
        seen += len(chunk)
        readable += sum(p.json_ok for p in chunk)
        good = [p for p in chunk if p.item is not None]
        verdicts = iter(classifier.classify([p.item for p in good if p.item is not None]))
        for parsed in chunk:
            row = (
                error_line(parsed) if parsed.item is None else verdict_line(parsed, next(verdicts))
            )
            output_file.write(json.dumps(row, ensure_ascii=False) + "\n")
        output_file.flush()
    if seen and not readable:
        click.echo("triage classify: the input is not JSON Lines (no line parsed)", err=True)
        ctx.exit(1)
