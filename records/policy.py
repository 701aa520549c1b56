"""The council's policy file (TRIAGE_POLICY): one reader and one error tree for its parts.

The file is YAML with one top-level section per part of the product (classification,
moderation, messages, working_time, replies, retention). Each part validates its own
sections with a pydantic model; this module reads the file, and every error it or a part
raises is a :class:`PolicyError` whose message names the file or the key. It lives in
records/ so that the classifiers, the connectors and the worker can all import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

__all__ = [
    "PolicyError",
    "PolicyInvalid",
    "PolicyUnreadable",
    "describe",
    "invalid",
    "read_policy",
    "sections",
]


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the file or the key."""


class PolicyUnreadable(PolicyError):
    """The file is missing, unreadable or not YAML."""


class PolicyInvalid(PolicyError):
    """The file reads, but a section or a value in it is wrong."""


def read_policy(path: Path) -> dict[str, Any]:
    """The file's sections by name; an empty file has none."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyUnreadable(f"policy file {path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyUnreadable(f"policy file {path}: not valid YAML{at}") from None
    return sections(document, f"policy file {path}")


def sections(document: Any, source: str = "policy file") -> dict[str, Any]:
    """An already parsed document checked to be a mapping of sections (None: no sections)."""
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise PolicyInvalid(f"{source}: expected a mapping of sections at the top level")
    return document


def describe(exc: ValidationError, prefix: Iterable[str] = ()) -> str:
    """A pydantic error as ``key.path: message`` parts, each key under ``prefix``."""
    start = tuple(prefix)
    parts: list[str] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            parts.append(".".join(str(p) for p in (*start, *error["loc"])) + ": " + message)
        elif start:  # whole-model checks name their keys relative to the section
            parts += [".".join((*start, problem)) for problem in message.split("; ")]
        else:
            parts.append(message)
    return "; ".join(parts)


def invalid(source: str, exc: ValidationError, prefix: Iterable[str] = ()) -> PolicyInvalid:
    """The error to raise for a section that failed validation."""
    return PolicyInvalid(f"{source}: {describe(exc, prefix)}")
