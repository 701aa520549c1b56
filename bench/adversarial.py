"""Worst-case classification time on crafted text: ``python -m bench.adversarial``.

A regular expression that backtracks can take time quadratic in its input, and one post
of a few thousand characters would then hold up a batch (and the urgent lane behind it).
This searches texts made of one short unit repeated to ``--chars`` characters (every pair
of characters that the rules treat specially, and units shaped after the rules' own
patterns), times the rules and the normalisation on each, and then times the whole
default classifier on the slowest ones beside ordinary text of the same length.

Target: the worst crafted text within 5x of ordinary text. Figures are medians of
``--repeat`` runs, in milliseconds per text.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ALPHABET = "a0.-_@ /:£!*#'\n,&+%"
SHAPED = [
    "a.a", "aa.", "a a", "0 0", "aa-", "a@a", "www.", "i'll ", "child ", "flat 1 ", "ref 1",
    "12 a road ", "s h ", "gas ", "£1 ", "http://a", "a.com", "1-2-", "1 2 ", "a.b@", "x.",
    "@a.", "sh*t ", "f u ", "win £1 ", "whatsapp ", "07700 ", "+44 ",
]  # fmt: skip
ORDINARY = (
    "Hi, the bins on our road were missed again this week and the recycling is piling up "
    "by the gate. Could someone let me know when the crew will be back? Thanks for all "
    "the work on the new park, it looks lovely. "
)


def crafted(chars: int) -> dict[str, str]:
    units = ["".join(u) for u in itertools.product(ALPHABET, repeat=2)] + SHAPED
    return {repr(u): (u * (chars // len(u) + 1))[:chars] for u in units}


def ordinary(chars: int) -> str:
    return (ORDINARY * (chars // len(ORDINARY) + 1))[:chars]


def median_ms(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worst", type=int, default=8, help="crafted texts to classify whole")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import classifiers
    from classifiers import normalise, rules
    from worker.settings import Settings

    texts = crafted(args.chars)
    plain = ordinary(args.chars)

    def text_steps(text: str) -> Callable[[], Any]:
        return lambda: (rules.find(text), normalise(text))

    base = median_ms(text_steps(plain), args.repeat)
    search = sorted(
        ((median_ms(text_steps(t), 1), name) for name, t in texts.items()), reverse=True
    )
    slowest = [name for _, name in search[: args.worst]]

    settings = Settings()  # the default model and policy
    classifier = classifiers.load(settings)
    whole_plain = median_ms(lambda: classifier.classify([plain]), args.repeat)
    load = os.getloadavg()[0]
    print(f"{args.chars} characters per text, median of {args.repeat}; load {load:.1f}")
    print(f"model: {classifier.versions['trained']}  ({Path(settings.model_dir).name})")
    print(f"{'text':<14}{'rules+normalise ms':>20}{'ratio':>8}{'classifier ms':>16}{'ratio':>8}")
    print(f"{'ordinary':<14}{base:>20.1f}{1.0:>8.2f}{whole_plain:>16.1f}{1.0:>8.2f}")
    worst_ratio = 0.0
    for name in slowest:
        text = texts[name]
        steps = median_ms(text_steps(text), args.repeat)
        whole = median_ms(lambda text=text: classifier.classify([text]), args.repeat)
        ratio = whole / whole_plain
        worst_ratio = max(worst_ratio, ratio)
        print(f"{name:<14}{steps:>20.1f}{steps / base:>8.2f}{whole:>16.1f}{ratio:>8.2f}")
    print(f"worst crafted text: {worst_ratio:.2f}x ordinary text (target: at most 5x)")


if __name__ == "__main__":
    main()
