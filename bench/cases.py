"""Who gets a reply deadline: ``python -m bench.cases`` from the repository root.

A reply case opens for every direct message, every comment labelled a service request,
and every comment whose service-request score passes the recall-first cut (a "possible
query"). This counts, through the shipped classifier, on the council test file and on the
demo feed: how many of the labelled requests get a case (by the label alone, and with the
fail-safe), and how many ordinary comments get one that an officer must close with
"No reply needed". Nothing here is a test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from records import Author, Comment

REPO = Path(__file__).resolve().parent.parent
COUNCIL_TEST = REPO / "classifiers" / "data" / "council" / "test.jsonl"
FEED = REPO / "worker" / "demo" / "sample_feed.jsonl"
FEED_LABELS = REPO / "worker" / "demo" / "sample_feed_labels.jsonl"


def council_test() -> list[tuple[Comment, bool]]:
    now = datetime.now(UTC)
    out = []
    for i, line in enumerate(COUNCIL_TEST.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        comment = Comment(
            id=f"t{i}",
            platform="facebook",
            channel="council",
            kind="comment",
            thread_id=f"t{i}",
            author=Author(id=f"a{i}"),
            text=row["text"],
            created_at=now,
            received_at=now,
        )
        out.append((comment, "service_request" in row["labels"]))
    return out


def demo_feed() -> list[tuple[Comment, bool]]:
    from worker.replay import load_feed

    labels = {
        row["id"]: "service_request" in row["labels"]
        for row in map(json.loads, FEED_LABELS.read_text(encoding="utf-8").splitlines())
    }
    comments = load_feed(FEED, now=datetime.now(UTC))
    return [(c, labels[c.id]) for c in comments if not c.author.is_council and c.id in labels]


def report(name: str, rows: Sequence[tuple[Comment, bool]], classifier: object) -> None:
    verdicts = classifier.classify([c for c, _ in rows])  # type: ignore[attr-defined]
    requests = [v for (_, asks), v in zip(rows, verdicts, strict=True) if asks]
    others = [v for (_, asks), v in zip(rows, verdicts, strict=True) if not asks]
    messages = sum(1 for c, _ in rows if c.kind == "direct_message")

    def labelled(v: object) -> bool:
        return "service_request" in v.labels  # type: ignore[attr-defined]

    def case(v: object) -> bool:
        return labelled(v) or v.possible_query  # type: ignore[attr-defined]

    print(f"\n{name}: {len(rows)} residents' texts, {len(requests)} requests, {messages} messages")
    print(
        f"  requests with a case: by the label alone {sum(map(labelled, requests))}, "
        f"with the fail-safe {sum(map(case, requests))} of {len(requests)}"
    )
    print(
        f"  ordinary texts with a case: by the label alone {sum(map(labelled, others))}, "
        f"with the fail-safe {sum(map(case, others))} of {len(others)}"
    )


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import classifiers
    from worker.settings import Settings

    classifier = classifiers.load(Settings())
    print(
        f"model {classifier.versions['trained']}: label threshold "
        f"{classifier.thresholds['service_request']:.3f}, review cut {classifier.query_cut:.3f}"
    )
    report("council test file", council_test(), classifier)
    report("demo feed", demo_feed(), classifier)


if __name__ == "__main__":
    main()
