"""Fine-tuning the transformer on the CPU: seeded, resumable, one checkpoint per epoch.

Each example contributes a weighted binary cross-entropy per category: a category the
example's source does not label (``Example.known``) counts as a weak negative (a fifth), so
a source's style cannot stand in for "not abusive" while its texts still say that most
political tweets spread no false claim. Council examples count more (``Example.weight``).

Batches hold texts of similar length (less padding: about a third faster on short
comments), in an order drawn from the seed and the epoch alone, and dropout is seeded per
epoch too, so a run resumed from the checkpoint of epoch k ends with the same weights as
one that was never stopped. Checkpoints and optimiser state are safetensors; nothing is
pickled.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from classifiers.training.config import FinetuneConfig, Progress
from classifiers.training.dataset import Example, label_matrix, label_weights
from classifiers.transformer import Base, Network, pad, prepare

__all__ = ["finetune"]


def finetune(
    examples: Sequence[Example],
    config: FinetuneConfig,
    *,
    base: Base | None = None,
    checkpoint_dir: Path | None = None,
    progress: Progress | None = None,
) -> Network:
    """A network fine-tuned on the examples; resumes from ``checkpoint_dir`` when it can."""
    if not examples:
        raise ValueError("no examples to fine-tune on")
    base = base or Base.installed()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    network = Network.from_base(base, dropout=config.dropout)
    network.to(device)
    tokenizer = base.tokenizer(config.max_tokens)
    rows = [e.ids for e in tokenizer.encode_batch([prepare(e.text) for e in examples])]
    targets = torch.tensor(label_matrix(examples), dtype=torch.float32)
    weights = torch.tensor([e.weight for e in examples], dtype=torch.float32).unsqueeze(1)
    known = torch.tensor(label_weights(examples), dtype=torch.float32) * weights

    steps_per_epoch = math.ceil(len(examples) / config.batch_size)
    total = steps_per_epoch * config.epochs
    optimiser = _optimiser(network, config)
    warmup = max(1, round(total * config.warmup_share))
    first_epoch = 0
    if checkpoint_dir is not None:
        first_epoch = _resume(checkpoint_dir, config, network, optimiser)

    step = first_epoch * steps_per_epoch
    for epoch in range(first_epoch, config.epochs):
        network.train()
        torch.manual_seed(config.seed * 1000 + epoch)  # dropout, reproducible per epoch
        running = 0.0
        for n, batch in enumerate(_epoch_batches(rows, config, epoch), start=1):
            ids, mask = pad([rows[i] for i in batch])
            logits = network(ids.to(device), mask.to(device))
            loss_each = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, targets[batch].to(device), reduction="none"
            )
            share = known[batch].to(device)
            loss = (loss_each * share).sum() / share.sum().clamp(min=1e-6)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            # Linear warm-up, then linear decay to zero: a function of the step alone.
            factor = min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
            for group in optimiser.param_groups:
                group["lr"] = config.learning_rate * factor
            optimiser.step()
            step += 1
            value = float(loss.detach())
            running = value if n == 1 else 0.98 * running + 0.02 * value
            if progress is not None:
                progress(step, total, running)
        if checkpoint_dir is not None:
            _save_checkpoint(checkpoint_dir, config, epoch, network, optimiser)
    network.eval()
    network.to("cpu")
    return network


def _optimiser(network: Network, config: FinetuneConfig) -> torch.optim.AdamW:
    decay: list[Any] = []
    plain: list[Any] = []
    for name, parameter in network.named_parameters():
        if not parameter.requires_grad:
            continue
        # Biases and layer norms are not shrunk towards zero (the usual BERT recipe).
        (plain if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": plain, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
    )


def _epoch_batches(
    rows: Sequence[Sequence[int]], config: FinetuneConfig, epoch: int
) -> list[list[int]]:
    """Shuffled, then sorted by length within pools of 50 batches, then the batches shuffled."""
    rng = random.Random(f"{config.seed}:{epoch}")  # noqa: S311 - sampling, not security
    order = list(range(len(rows)))
    rng.shuffle(order)
    pool = config.batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(rows[i]))
        batches += [
            chunk[i : i + config.batch_size] for i in range(0, len(chunk), config.batch_size)
        ]
    rng.shuffle(batches)
    return batches


def _checkpoint_paths(folder: Path, epoch: int) -> tuple[Path, Path, Path]:
    stem = folder / f"epoch-{epoch + 1}"
    return (
        stem.with_suffix(".weights.safetensors"),
        stem.with_suffix(".optimiser.safetensors"),
        stem.with_suffix(".json"),
    )


def _save_checkpoint(
    folder: Path, config: FinetuneConfig, epoch: int, network: Network, optimiser: torch.optim.AdamW
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    weights, state, meta = _checkpoint_paths(folder, epoch)
    trained = {k: v.detach().cpu().contiguous() for k, v in network.trained_state().items()}
    save_file(trained, str(weights))
    save_file(_optimiser_tensors(optimiser), str(state))
    # The JSON goes last: a checkpoint without it was interrupted and is ignored.
    meta.write_text(json.dumps({"epoch": epoch + 1, "recipe": config.key(), "saved": time.time()}))


def _resume(
    folder: Path, config: FinetuneConfig, network: Network, optimiser: torch.optim.AdamW
) -> int:
    """Load the latest complete checkpoint of this recipe; the epoch to start from."""
    for epoch in range(config.epochs - 1, -1, -1):
        weights, state, meta = _checkpoint_paths(folder, epoch)
        if not meta.is_file():
            continue
        saved = json.loads(meta.read_text(encoding="utf-8"))
        if saved.get("recipe") != config.key():
            continue
        network.load_trained(load_file(str(weights)))
        _load_optimiser(optimiser, load_file(str(state)))
        return epoch + 1
    return 0


def _optimiser_tensors(optimiser: torch.optim.AdamW) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for index, values in optimiser.state_dict()["state"].items():
        for name, value in values.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            out[f"{index}.{name}"] = tensor.detach().cpu().contiguous()
    return out


def _load_optimiser(optimiser: torch.optim.AdamW, tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    current = optimiser.state_dict()
    optimiser.load_state_dict({"state": state, "param_groups": current["param_groups"]})
