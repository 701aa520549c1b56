"""What a training run does: the recipe's settings, free of torch so any tool can read them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

__all__ = ["FinetuneConfig", "Progress", "Recipe"]

Progress = Callable[[int, int, float], None]
"""Called after each fine-tuning step with (step, total steps, running loss)."""


@dataclass(frozen=True)
class FinetuneConfig:
    """The fine-tuning; ``threads`` bounds torch on the CPU, ``device`` may be cuda."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 8e-5
    warmup_share: float = 0.06
    weight_decay: float = 0.01
    dropout: float = 0.1
    max_tokens: int = 128
    seed: int = 0
    threads: int = 2
    device: str = "cpu"

    def key(self) -> str:
        """What a checkpoint must match to be resumed (everything but where it runs)."""
        recipe = {k: v for k, v in asdict(self).items() if k not in ("threads", "device")}
        return json.dumps(recipe, sort_keys=True)


@dataclass(frozen=True)
class Recipe:
    """What ``recipe.build`` does; ``transformer=False`` fits the linear model alone."""

    seed: int = 0
    holdout: float = 0.1
    word_vectors: bool = True
    transformer: bool = True
    review_recall: float = 0.95
    # The requests the recall-first cut must keep: the council's own examples (the register
    # the product reads); web forms and typed bank queries pass any cut near the label's.
    review_source: str = "council"
    # Weigh the validation texts by source, not by text, for the blend and the cuts
    # (``evaluation.source_balanced``); measured in the model card, not the default.
    weigh_sources: bool = False
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    @property
    def parts(self) -> tuple[str, ...]:
        return ("transformer", "linear", "combined") if self.transformer else ("linear",)
