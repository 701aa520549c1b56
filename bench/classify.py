"""Classifier speed and memory: ``python -m bench.classify`` from the repository root.

Measures, each in a fresh process so that its peak memory is its own, at the worker's
batch of 32 texts:

- the linear model alone (``TrainedModel.predict_proba``);
- the fine-tuned transformer alone, int8 as served and float32 for comparison, with
  1 and 2 torch threads;
- detoxify at bert-base size (random weights in a checkpoint built from the real
  bert-base-uncased config and vocabulary, loaded through detoxify's own code) at batch
  1, 8 and 32, float and int8;
- the whole default classifier (transformer, linear model, rules, blend, policy), with
  1 and 2 torch threads, float32 and int8, and with detoxify added.

Texts are a mix of real comments from ../shared/data (tweets, YouTube comments, COVID
posts, council reports, bank queries). Each figure is the median of three runs. Nothing
here is a test: the figures are printed side by side.
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
BERT_CONFIG = SHARED / "hf-bert-base-uncased-tokenizer"
CACHE = Path(tempfile.gettempdir()) / "triage-bench"
CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


def sample_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` real texts from four sources, shuffled with a fixed seed."""
    pools: list[list[str]] = []
    readers: list[tuple[str, str, str]] = [
        ("olid/olid-training-v1.0.tsv", "tweet", "\t"),
        ("youtube-spam/Youtube01-Psy.csv", "CONTENT", ","),
        ("constraint-covid-fake/Constraint_Val.csv", "tweet", ","),
        ("fixmystreet-cheltenham/fixmystreet_cheltenham_reports_2020_2023.csv", "detail", ","),
        ("banking77/test.csv", "text", ","),
    ]
    for name, column, delimiter in readers:
        path = SHARED / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
            pools.append([row[column] for row in rows if row.get(column)][:2000])
    texts = [t for pool in pools for t in pool]
    if not texts:
        sys.exit(f"bench: no texts found under {SHARED} (run from the repository root)")
    rng = random.Random(seed)
    rng.shuffle(texts)
    return (texts * (n // len(texts) + 1))[:n]


def build_bert_base_checkpoint() -> Path:
    """A detoxify-format checkpoint of a randomly initialised bert-base (cached)."""
    path = CACHE / "bert-base-random.ckpt"
    if path.is_file():
        return path
    import torch
    import transformers

    CACHE.mkdir(parents=True, exist_ok=True)
    config = transformers.BertConfig.from_pretrained(BERT_CONFIG, num_labels=len(CLASSES))
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    checkpoint = {
        "config": {
            "arch": {
                "args": {
                    "model_type": "bert-base-uncased",
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(CLASSES),
                }
            },
            "dataset": {"args": {"classes": CLASSES}},
        },
        "state_dict": model.state_dict(),
    }
    partial = path.with_suffix(".partial")
    torch.save(checkpoint, partial)
    partial.replace(path)
    return path


def _memory() -> str:
    """Peak and current resident memory of this process, in MB ("peak/now")."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now = float("nan")
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
    return f"{peak:.0f}/{now:.0f}"


def _timed(run: Callable[[list[str]], Any], texts: list[str], warm: int = 32) -> float:
    """Texts per second: the median of three timed runs after a warm-up."""
    run(texts[:warm])
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        run(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates)


def _model_dir() -> Path:
    """The shipped model, or TRIAGE_MODEL_DIR's."""
    from worker.settings import Settings

    return Path(Settings().model_dir)


def _settings(detoxify: bool, quantize: bool = False, threads: int = 2, int8: bool = True) -> Any:
    from types import SimpleNamespace

    from worker.settings import DEFAULT_POLICY

    return SimpleNamespace(
        policy=DEFAULT_POLICY,
        model_dir=_model_dir(),
        detoxify_checkpoint=build_bert_base_checkpoint() if detoxify else None,
        detoxify_config_dir=BERT_CONFIG if detoxify else None,
        require_detoxify=detoxify,
        detoxify_quantize=quantize,
        detoxify_sha256=None,
        torch_threads=threads,
        transformer_int8=int8,
    )


# --- phases: each runs in its own process and returns (label, texts/s, peak MB) ------


def _batched(fn: Callable[[list[str]], Any], size: int = 32) -> Callable[[list[str]], None]:
    def run(texts: list[str]) -> None:
        for start in range(0, len(texts), size):  # the worker's default batch size
            fn(texts[start : start + size])

    return run


def phase_linear(n: int) -> tuple[str, float, str]:
    from classifiers.shipped import LINEAR_DIR
    from classifiers.trained import TrainedModel

    model = TrainedModel.load(_model_dir() / LINEAR_DIR)
    rate = _timed(_batched(model.predict_proba), sample_texts(n))
    return "linear model alone", rate, _memory()


def phase_transformer(n: int, quantize: bool, threads: int) -> tuple[str, float, str]:
    import json

    from classifiers.shipped import TRANSFORMER_FILE
    from classifiers.transformer import TransformerModel

    meta = json.loads((_model_dir() / "model.json").read_text())
    model = TransformerModel.load(
        _model_dir() / TRANSFORMER_FILE,
        meta["files"][TRANSFORMER_FILE],
        threads=threads,
        quantize=quantize,
    )
    rate = _timed(_batched(model.predict_proba), sample_texts(n))
    return f"transformer alone, {'int8' if quantize else 'float32'} {threads}t", rate, _memory()


def phase_detoxify(n: int, quantize: bool, threads: int) -> list[tuple[str, float, str]]:
    """One load, then batch sizes 1, 8 and 32 (peak memory is the process's so far)."""
    from classifiers.detox import load_detoxify

    scorer = load_detoxify(
        build_bert_base_checkpoint(), BERT_CONFIG, quantize=quantize, threads=threads
    )
    texts = sample_texts(n)
    kind = ("int8" if quantize else "float") + f" {threads}t"
    rows = []
    for batch in (1, 8, 32):
        rate = _timed(functools.partial(scorer.score, batch_size=batch), texts, 4)
        rows.append((f"detoxify bert-base {kind} batch {batch}", rate, _memory()))
    return rows


def phase_classifier(
    n: int, detoxify: bool, quantize: bool, threads: int = 2, int8: bool = True
) -> tuple[str, float, str]:
    import classifiers

    classifier = classifiers.load(_settings(detoxify, quantize, threads, int8))
    rate = _timed(_batched(classifier.classify), sample_texts(n))
    what = f"{'default (int8)' if int8 else 'float32 transformer'} {threads}t"
    if detoxify:
        what = ("with detoxify int8" if quantize else "with detoxify float") + f" {threads}t"
    return f"whole classifier, {what}", rate, _memory()


def _in_fresh_process(fn: Callable[..., Any], *args: Any) -> list[tuple[str, Any, Any]]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        try:
            result = pool.submit(fn, *args).result()
        except Exception as exc:  # noqa: BLE001 - a phase that cannot run is reported, not fatal
            return [(fn.__name__.removeprefix("phase_"), None, f"skipped: {exc}")]
    return result if isinstance(result, list) else [result]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000, help="texts for the linear model")
    parser.add_argument(
        "--transformer-texts", type=int, default=640, help="texts per transformer run"
    )
    parser.add_argument("--detox-texts", type=int, default=32, help="texts per detoxify run")
    parser.add_argument(
        "--threads", default="1,2", help="torch thread counts to try, comma-separated"
    )
    parser.add_argument("--skip-detoxify", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    started = time.perf_counter()
    threads = [int(t) for t in args.threads.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cpu cores: {os.cpu_count()}  load average: {load:.1f}  torch threads: {threads}")
    rows = _in_fresh_process(phase_linear, args.texts)
    for n_threads in threads:
        for quantize in (True, False):
            rows += _in_fresh_process(
                phase_transformer, args.transformer_texts, quantize, n_threads
            )
    for n_threads in threads:
        for int8 in (True, False):
            rows += _in_fresh_process(
                phase_classifier, args.transformer_texts, False, False, n_threads, int8
            )
    if not args.skip_detoxify:
        build_bert_base_checkpoint()
        for n_threads in threads:
            for quantize in (False, True):
                rows += _in_fresh_process(phase_detoxify, args.detox_texts, quantize, n_threads)
        for n_threads in threads:
            for quantize in (False, True):
                rows += _in_fresh_process(
                    phase_classifier, args.detox_texts, True, quantize, n_threads
                )

    print(f"{'what (Nt = N torch threads, batch 32)':<44} {'texts/s':>9} {'MB peak/now':>12}")
    for label, rate, memory in rows:
        if rate is None:
            print(f"{label:<44} {memory}")
        else:
            print(f"{label:<44} {rate:>9.1f} {memory:>12}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
