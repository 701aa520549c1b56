"""detoxify's toxicity sub-scores, loaded fully offline from files on the machine.

detoxify's own ``Detoxify(checkpoint=..., huggingface_config_path=...)`` still asks the
Hugging Face hub for the base model's config (it calls ``from_pretrained("bert-base-uncased")``
before it looks at the local directory). So this module reads the checkpoint itself and
calls detoxify's ``get_model_and_tokenizer`` with the local config directory in place of
the hub name: detoxify's loading code, no network. Scores are batched, torch's threads
are bounded, and a lock makes one scorer safe to share between threads.

A ``.ckpt`` is a pickle, and unpickling can run code. It is read with torch's
weights-only loader; a file that needs more is unpickled only when the operator has given
its full SHA-256 (``TRIAGE_DETOXIFY_SHA256``) and the file matches. :func:`convert`
turns a checkpoint into safetensors (tensors plus the config as JSON metadata), which
then loads with no pickle at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["DetoxifyError", "DetoxifyScorer", "convert", "load_detoxify"]

_RENAMES = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}
MAX_TOKENS = 256
"""Longer texts are cut; social media comments rarely reach it and speed falls with length."""
SAFETENSORS_SUFFIX = ".safetensors"
CONFIG_METADATA = "detoxify_config"  # the safetensors metadata key holding the config


class DetoxifyError(RuntimeError):
    """The detoxify weights or config cannot be used; the message says which file and why."""


class DetoxifyScorer:
    """Toxicity sub-scores for batches of texts: ``score(texts) -> [{name: p}, ...]``."""

    def __init__(
        self, model: Any, tokenizer: Any, class_names: Sequence[str], version: str
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self.class_names = tuple(class_names)
        self.version = version
        self._lock = threading.Lock()

    def score(self, texts: Sequence[str], batch_size: int = 16) -> list[dict[str, float]]:
        """Sub-scores per text, in order. Texts of similar length are batched together,
        so that short comments are not padded to the length of a long one."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: list[dict[str, float]] = [{} for _ in texts]
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                picked = order[start : start + batch_size]
                chunk = [texts[i] if texts[i].strip() else "." for i in picked]
                inputs = self._tokenizer(
                    chunk,
                    return_tensors="pt",
                    truncation=True,
                    max_length=MAX_TOKENS,
                    padding=True,
                )
                probs = torch.sigmoid(self._model(**inputs)[0]).tolist()
                for i, row in zip(picked, probs, strict=True):
                    results[i] = {
                        name: round(float(p), 4)
                        for name, p in zip(self.class_names, row, strict=True)
                    }
        return results


def load_detoxify(
    checkpoint: Path,
    config_dir: Path,
    *,
    quantize: bool = False,
    threads: int = 2,
    sha256: str | None = None,
) -> DetoxifyScorer:
    """Load a detoxify checkpoint with the Hugging Face config and vocabulary in ``config_dir``.

    ``checkpoint`` is a detoxify ``.ckpt`` or a ``.safetensors`` file from :func:`convert`.
    ``sha256``, when given, must be the file's full SHA-256; only then may a ``.ckpt`` that
    needs more than tensors be unpickled.
    """
    if not checkpoint.is_file():
        raise DetoxifyError(f"detoxify checkpoint not found: {checkpoint}")
    if not (config_dir / "config.json").is_file():
        raise DetoxifyError(f"no config.json in the detoxify config directory {config_dir}")
    # The hub must never be asked, even for a file that looks missing.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with contextlib.suppress(ImportError):
        # skops scans every loaded module on its first import and trips over
        # transformers' lazy attributes; loaded first, it never sees them.
        import skops.io  # noqa: F401
    import torch
    import transformers
    from detoxify.detoxify import get_model_and_tokenizer

    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    digest = _checked_digest(checkpoint, sha256)
    arch, classes, state_dict = _parts(checkpoint, _read_checkpoint(checkpoint, digest, sha256))
    arch["model_type"] = str(config_dir)  # local config in place of the hub name
    try:
        model, tokenizer = get_model_and_tokenizer(**arch, state_dict=state_dict)
    except (OSError, ValueError, RuntimeError) as exc:
        raise DetoxifyError(
            f"detoxify could not build its model from {config_dir}: {exc}"
        ) from None
    del state_dict  # the model holds its own copy; free the file's before quantising
    model.eval()
    if quantize:
        model = _quantize(model)
    version = f"detoxify-{arch.get('model_name', 'model')}-{digest[:8]}" + (
        "-int8" if quantize else ""
    )
    return DetoxifyScorer(model, tokenizer, classes, version)


def convert(checkpoint: Path, out: Path, *, sha256: str | None = None) -> str:
    """Write ``checkpoint`` as safetensors at ``out``; returns the new file's SHA-256.

    The same rules as :func:`load_detoxify` decide whether the checkpoint may be
    unpickled to read it; the file written holds tensors and JSON only.
    """
    from safetensors.torch import save_file

    if not checkpoint.is_file():
        raise DetoxifyError(f"detoxify checkpoint not found: {checkpoint}")
    if out.suffix != SAFETENSORS_SUFFIX:
        raise DetoxifyError(f"{out}: the converted file's name must end {SAFETENSORS_SUFFIX}")
    digest = _checked_digest(checkpoint, sha256)
    arch, classes, state_dict = _parts(checkpoint, _read_checkpoint(checkpoint, digest, sha256))
    config = {"arch": {"args": arch}, "dataset": {"args": {"classes": classes}}}
    try:
        metadata = {CONFIG_METADATA: json.dumps(config)}
        # Copies: safetensors refuses tensors that share memory or are not contiguous.
        tensors = {name: t.detach().clone().contiguous() for name, t in state_dict.items()}
    except (TypeError, AttributeError) as exc:
        raise DetoxifyError(f"{checkpoint}: cannot be written as safetensors ({exc})") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)
    return _sha256(out)


def _checked_digest(path: Path, expected: str | None) -> str:
    digest = _sha256(path)
    if expected is not None and digest != expected.lower():
        raise DetoxifyError(
            f"{path}: its sha256 is {digest}, not the {expected.lower()} that "
            "TRIAGE_DETOXIFY_SHA256 gives; refusing it"
        )
    return digest


def _parts(checkpoint: Path, loaded: Any) -> tuple[dict[str, Any], list[str], Any]:
    try:
        arch = dict(loaded["config"]["arch"]["args"])
        classes = [_RENAMES.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]
        state_dict = loaded["state_dict"]
    except (KeyError, TypeError) as exc:
        raise DetoxifyError(
            f"{checkpoint}: not a detoxify checkpoint (no {exc} in its config)"
        ) from None
    return arch, classes, state_dict


def _read_checkpoint(checkpoint: Path, digest: str, sha256: str | None) -> Any:
    """The checkpoint's contents (``config`` and ``state_dict``), unpickled only if allowed.

    ``digest`` is the file's SHA-256 and ``sha256`` the operator's; a full load needs both
    and that they agree.
    """
    if checkpoint.suffix == SAFETENSORS_SUFFIX:
        return _read_safetensors(checkpoint)
    import pickle

    import torch

    try:
        return torch.load(checkpoint, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Plain tensors and dicts load safely; anything else runs code when unpickled, so
        # only a file whose whole hash the operator vouched for may.
        if sha256 is None or digest != sha256.lower():
            raise DetoxifyError(
                f"{checkpoint}: holds more than tensors, so loading it could run code; "
                f"refusing it. If you trust it, check its sha256 ({digest}) against a "
                "trusted copy and set TRIAGE_DETOXIFY_SHA256, or convert it once with "
                "`triage detoxify convert`"
            ) from None
    except (OSError, RuntimeError, EOFError) as exc:
        raise DetoxifyError(f"{checkpoint}: cannot read ({exc})") from None
    return torch.load(checkpoint, map_location="cpu", weights_only=False)


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            state_dict = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        config = json.loads(metadata[CONFIG_METADATA])
    except (SafetensorError, OSError) as exc:
        raise DetoxifyError(f"{path}: cannot read ({exc})") from None
    except (KeyError, ValueError):
        raise DetoxifyError(
            f"{path}: not a converted detoxify checkpoint (no {CONFIG_METADATA} metadata)"
        ) from None
    return {"config": config, "state_dict": state_dict}


def _quantize(model: Any) -> Any:
    import torch

    with warnings.catch_warnings():
        # Eager dynamic quantisation is deprecated upstream but still the only way
        # without an extra package; it is optional here.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
