"""Labelled examples and the reader for a council's own CSV or JSON Lines export.

A file is read with a column mapping: which column(s) hold the text, which column holds
the labels, and how the label values map to our categories. That way a council can
retrain on whatever its export looks like without reshaping it first.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from records import CATEGORIES

__all__ = [
    "NO_LABEL",
    "WEAK",
    "ColumnMapping",
    "DatasetError",
    "Example",
    "label_matrix",
    "label_weights",
    "read_labelled",
]

NO_LABEL = frozenset({"", "none", "other", "no", "ham", "not"})
"""Label values that mean "none of the categories" when no mapping says otherwise."""


class DatasetError(ValueError):
    """A labelled file could not be read; the message says which file, line and column."""


@dataclass(frozen=True)
class Example:
    """One labelled text: its categories (empty = ordinary chatter) and where it came from.

    ``known`` names the categories whose label is trusted for this text (None: all of
    them); for the others its "no" counts only as a weak negative (``WEAK``).
    """

    text: str
    labels: frozenset[str]
    source: str
    weight: float = 1.0
    meta: Mapping[str, str] = field(default_factory=dict)
    known: frozenset[str] | None = None


@dataclass(frozen=True)
class ColumnMapping:
    """Where the text and labels are in a file and what the label values mean."""

    text_cols: tuple[str, ...] = ("text",)
    labels_col: str = "labels"
    label_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    has_header: bool = True

    @classmethod
    def parse(
        cls,
        text_cols: Sequence[str] = ("text",),
        labels_col: str = "labels",
        label_map: Iterable[str] = (),
        has_header: bool = True,
    ) -> ColumnMapping:
        """Build a mapping from command-line style ``VALUE=cat1+cat2`` entries."""
        mapping: dict[str, tuple[str, ...]] = {}
        for entry in label_map:
            value, sep, target = entry.partition("=")
            if not sep:
                raise DatasetError(f"label map entry {entry!r} must look like VALUE=category")
            cats = tuple(c.strip() for c in target.replace(",", "+").split("+") if c.strip())
            for cat in cats:
                if cat not in CATEGORIES:
                    raise DatasetError(
                        f"label map entry {entry!r}: {cat!r} is not one of {', '.join(CATEGORIES)}"
                    )
            mapping[value.strip().lower()] = cats
        return cls(tuple(text_cols) or ("text",), labels_col, mapping, has_header)

    def labels_of(self, raw: Any, where: str) -> frozenset[str]:
        """The categories a raw label cell stands for."""
        values: list[str]
        if raw is None:
            values = []
        elif isinstance(raw, list | tuple):
            values = [str(v) for v in raw]
        elif isinstance(raw, bool | int | float):
            values = [str(int(raw)) if float(raw).is_integer() else str(raw)]
        else:
            text = str(raw).strip()
            values = [v for part in text.replace("|", ";").split(";") for v in part.split(",")]
        found: set[str] = set()
        for value in values:
            key = value.strip().lower()
            if key in self.label_map:
                found.update(self.label_map[key])
            elif key in CATEGORIES:
                found.add(key)
            elif key not in NO_LABEL:
                raise DatasetError(
                    f"{where}: label value {value.strip()!r} is not a category; "
                    "map it with --label-map VALUE=category (or VALUE= for none)"
                )
        return frozenset(found)


def read_labelled(
    path: Path, mapping: ColumnMapping | None = None, source: str | None = None
) -> list[Example]:
    """Examples from a CSV, TSV or JSON Lines file, read through a column mapping."""
    mapping = mapping or ColumnMapping()
    source = source or path.stem
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    rows = (
        _jsonl_rows(path)
        if suffix in (".jsonl", ".json", ".ndjson")
        else _csv_rows(path, "\t" if suffix == ".tsv" else ",", mapping.has_header)
    )
    examples = []
    for where, row in rows:
        parts = []
        for col in mapping.text_cols:
            if col not in row:
                raise DatasetError(f"{where}: no text column {col!r} (have {', '.join(row)})")
            value = row[col]
            if value is not None and str(value).strip():
                parts.append(str(value).strip())
        if not parts:
            continue  # an empty text teaches nothing
        if mapping.labels_col not in row:
            raise DatasetError(f"{where}: no labels column {mapping.labels_col!r}")
        labels = mapping.labels_of(row[mapping.labels_col], where)
        examples.append(Example(". ".join(parts), labels, source))
    if not examples:
        raise DatasetError(f"{path}: no labelled texts found")
    return examples


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{where}: expected a JSON object")
            yield where, row


def _csv_rows(path: Path, delimiter: str, has_header: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header: list[str] | None = None
        for number, cells in enumerate(reader, start=1):
            if header is None:
                if has_header:
                    header = [c.strip() for c in cells]
                    continue
                header = [str(i) for i in range(len(cells))]
            if not any(c.strip() for c in cells):
                continue
            yield f"{path.name} line {number}", dict(zip(header, cells, strict=False))


def label_matrix(examples: Sequence[Example]) -> np.ndarray:
    """An (n, 4) 0/1 matrix in category order."""
    matrix = np.zeros((len(examples), len(CATEGORIES)), dtype=np.int8)
    for i, example in enumerate(examples):
        for j, category in enumerate(CATEGORIES):
            if category in example.labels:
                matrix[i, j] = 1
    return matrix


WEAK = 0.2
"""The weight of a "no" that a source does not actually give (see ``sources.KNOWN``)."""


def label_weights(examples: Sequence[Example]) -> np.ndarray:
    """An (n, 4) matrix of how much each example's label for each category counts: 1 where
    the label is given (or positive), ``WEAK`` where "no" is only the likely answer."""
    matrix = np.ones((len(examples), len(CATEGORIES)), dtype=np.float32)
    for i, example in enumerate(examples):
        if example.known is not None:
            for j, category in enumerate(CATEGORIES):
                if category not in example.known and category not in example.labels:
                    matrix[i, j] = WEAK
    return matrix
