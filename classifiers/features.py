"""Feature transformers for the trained model, beyond word and character n-grams.

N-grams learn the words of each training source; these features describe a text in ways
that carry over between sources: how it is written (links, digits, money, shouting) and
which kinds of words it uses (requests to the council, swearing, promotion, health
claims). They follow scikit-learn's conventions so they sit inside a Pipeline and are
saved with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from classifiers.normalise import EMAIL_PATTERN, URL_PATTERN, clean, normalise

__all__ = [
    "CompactTfidf",
    "HandFeatures",
    "Normaliser",
    "WordTable",
    "WordVectors",
    "build_features",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Small word lists: each stands for a kind of language, not for one data set's vocabulary.
_REQUEST = _words(
    """
    please pls plz can could would when why how who report reported reporting fix fixed
    repair repaired collect collected collection missed broken blocked overflowing
    dumped leaking flooded flooding need needs needed help urgent still again weeks days
    months sort sorted contact respond reply waiting anyone someone
    """
)
_COUNCIL = _words(
    """
    council councillor bin bins recycling rubbish waste litter flytipping fly tipping
    pothole potholes road roads street streets pavement footpath path lamp light lights
    streetlight drain drains sewer grass verge hedge tree trees park playground parking
    car park permit tax bill planning application housing tenant noise graffiti dog
    fouling toilets leisure library cemetery market bus stop sign signs crossing traffic
    kerb gully
    """
)
_PROMO = _words(
    """
    free win winner won prize cash money earn income offer deal discount cheap buy sale
    subscribe channel follow click visit check link bio dm whatsapp telegram crypto
    bitcoin invest investment profit loan casino promo code giveaway claim limited
    guaranteed
    """
)
_CLAIM = _words(
    """
    cure cures cured hoax fake lie lies lying truth cover coverup covered conspiracy
    plandemic 5g microchip chip poison toxic banned secret hidden mainstream media
    sheeple wake agenda vaccine vaccines vaccinated jab jabs virus covid bleach miracle
    proof proven exposed
    """
)
_SWEAR = _words(
    """
    arse arsehole ass asshole bastard bitch bitches bollocks bullshit cock crap cunt
    damn dick dickhead fag faggot fuck fucked fucker fucking fuckin idiot idiots moron
    morons nigga nigger pathetic piss pissed prick retard retarded scum shit shite
    stupid twat wanker whore hoe hoes pussy slut loser losers disgusting kill die hate
    """
)
_THREAT = _words(
    """
    kill killed murder stab stabbed shoot shot punch punched smash batter beat beaten hurt
    jaw teeth face hiding strung hang hanged burn burned petrol brick bricks knife gun
    regret watch yourself coming find where lives know live sorted
    """
)
_PRAISE = _words(
    """
    thanks thank thankyou cheers well done great good lovely nice brilliant fab fabulous
    amazing wonderful beautiful enjoyed enjoy love loved lovely proud congratulations
    congrats fantastic excellent superb happy glad pleased appreciated appreciate
    """
)
_SECOND = frozenset({"you", "your", "yours", "you're", "youre", "u", "ur", "yourself"})
_FIRST = frozenset({"i", "my", "me", "we", "our", "us", "i'm", "im", "i've", "ive"})
_WORD = re.compile(r"[a-z_']+")
_CURRENCY = re.compile(r"[£$€]|\b\d+\s?(?:gbp|usd|pounds|dollars|k)\b", re.IGNORECASE)
_PHONE = re.compile(r"(?:\+?\d[\d ()-]{8,}\d)")
_AT = re.compile(r"(?<![\w@])@\w+")


def _ratio(count: float, total: float) -> float:
    return count / total if total else 0.0


def _hand_row(text: str) -> list[float]:
    raw = clean(text)
    words = _WORD.findall(raw.lower())
    n_words = len(words)
    letters = [c for c in raw if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    return [
        np.log1p(len(raw)),
        np.log1p(n_words),
        float(len(URL_PATTERN.findall(raw))),
        float(len(_AT.findall(raw))),
        float(len(EMAIL_PATTERN.findall(raw))),
        _ratio(sum(c.isdigit() for c in raw), len(raw)),
        float(len(_PHONE.findall(raw))),
        float(len(_CURRENCY.findall(raw))),
        _ratio(upper, len(letters)),
        float(min(raw.count("!"), 10)),
        float(min(raw.count("?"), 10)),
        _ratio(sum(w in _SECOND for w in words), n_words),
        _ratio(sum(w in _FIRST for w in words), n_words),
        _ratio(sum(w in _REQUEST for w in words), n_words),
        _ratio(sum(w in _COUNCIL for w in words), n_words),
        _ratio(sum(w in _PROMO for w in words), n_words),
        _ratio(sum(w in _CLAIM for w in words), n_words),
        float(sum(w in _SWEAR for w in words)),
        _ratio(sum(w in _THREAT for w in words), n_words),
        _ratio(sum(w in _PRAISE for w in words), n_words),
    ]


HAND_FEATURE_NAMES = (
    "log_chars",
    "log_words",
    "urls",
    "handles",
    "emails",
    "digit_ratio",
    "phone_like",
    "currency",
    "caps_ratio",
    "exclamations",
    "questions",
    "second_person",
    "first_person",
    "request_words",
    "council_words",
    "promotion_words",
    "claim_words",
    "swear_words",
    "threat_words",
    "praise_words",
)


def _as_texts(X: Iterable[Any]) -> list[str]:
    if isinstance(X, np.ndarray) and X.ndim == 2:
        X = X[:, 0]
    return ["" if x is None else str(x) for x in X]


class HandFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Counts and ratios that describe how a text is written, scaled to unit variance."""

    def fit(self, X: Iterable[Any], y: Any = None) -> HandFeatures:
        rows = self._raw(X)
        self.mean_ = rows.mean(axis=0)
        scale = rows.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.n_features_out_ = rows.shape[1]
        return self

    def transform(self, X: Iterable[Any]) -> np.ndarray:
        check_is_fitted(self, "scale_")
        result: np.ndarray = (self._raw(X) - self.mean_) / self.scale_
        return result

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"hand__{n}" for n in HAND_FEATURE_NAMES], dtype=object)

    @staticmethod
    def _raw(X: Iterable[Any]) -> np.ndarray:
        texts = _as_texts(X)
        if not texts:
            return np.zeros((0, len(HAND_FEATURE_NAMES)))
        return np.asarray([_hand_row(t) for t in texts], dtype=np.float64)


class Normaliser(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Maps raw texts to the model's view of them (see ``classifiers.normalise``)."""

    def fit(self, X: Iterable[Any], y: Any = None) -> Normaliser:
        return self

    def transform(self, X: Iterable[Any]) -> list[str]:
        return [normalise(t) for t in _as_texts(X)]


class WordVectors(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """The IDF-weighted mean of static word vectors over the words of a normalised text.

    ``words`` (an array of strings) and ``vectors`` are a table made once from a
    sentence-embedding model (see ``classifiers.training.distil``): each word's vector
    is the model's embedding of that word alone. Words with similar meaning get similar
    vectors, so a request about a "hedge" looks like the ones about "trees" seen in
    training, at the cost of a table look-up per word.
    """

    def __init__(self, words: np.ndarray | None = None, vectors: np.ndarray | None = None) -> None:
        self.words = words
        self.vectors = vectors

    def fit(self, X: Iterable[Any], y: Any = None) -> WordVectors:
        if self.words is None or self.vectors is None or len(self.words) != len(self.vectors):
            raise ValueError("WordVectors needs a word array and a vector table of the same length")
        self._index()
        docs = np.zeros(len(self.words))
        texts = _as_texts(X)
        for text in texts:
            for i in {self.index_[w] for w in _WORD.findall(text) if w in self.index_}:
                docs[i] += 1
        self.idf_ = (np.log((1 + len(texts)) / (1 + docs)) + 1).astype(np.float32)
        self.n_features_out_ = int(self.vectors.shape[1])
        return self

    def transform(self, X: Iterable[Any]) -> np.ndarray:
        check_is_fitted(self, "idf_")
        texts = _as_texts(X)
        out = np.zeros((len(texts), self.table_.shape[1]), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = [self.index_[w] for w in _WORD.findall(text) if w in self.index_]
            if ids:
                weights = self.idf_[ids]
                mean = weights @ self.table_[ids]
                norm = float(np.linalg.norm(mean))
                out[row] = mean / norm if norm > 0 else mean
        return out

    def _index(self) -> None:
        if self.words is None or self.vectors is None:
            raise ValueError("WordVectors needs a word array and a vector table")
        self.index_ = {str(w): i for i, w in enumerate(self.words)}
        self.table_ = np.asarray(self.vectors, dtype=np.float32)

    # The look-up dict and float32 table are rebuilt on load rather than saved.
    def __getstate__(self) -> dict[str, Any]:
        # A copy: the base class may hand back the live __dict__.
        state: dict[str, Any] = dict(super().__getstate__())
        state.pop("index_", None)
        state.pop("table_", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if hasattr(self, "idf_"):
            self._index()


class CompactTfidf(TfidfVectorizer):  # type: ignore[misc]
    """TfidfVectorizer that saves its vocabulary as one array of terms instead of a dict.

    skops writes a dict entry by entry (a 40,000-term vocabulary took 17 MB and seconds
    to load); an array of terms in column order is a few hundred kilobytes.
    """

    def __getstate__(self) -> dict[str, Any]:
        # A copy: the base class may hand back the live __dict__.
        state: dict[str, Any] = dict(super().__getstate__())
        state.pop("stop_words_", None)  # only for inspection, and large
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            terms = sorted(vocabulary, key=vocabulary.__getitem__)
            state["terms_"] = np.asarray(terms, dtype=str)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        terms = state.pop("terms_", None)
        if terms is not None:
            state["vocabulary_"] = {str(t): i for i, t in enumerate(terms)}
        super().__setstate__(state)


WordTable = tuple[tuple[str, ...], np.ndarray]
"""A vocabulary and its word vectors (see ``classifiers.training.distil``)."""


def build_features(table: WordTable | None = None) -> FeatureUnion:
    """Word and character n-grams and word vectors of the normalised text, and hand features."""
    words = CompactTfidf(
        analyzer="word",
        ngram_range=(1, 2),
        min_df=2,
        max_features=40000,
        sublinear_tf=True,
        token_pattern=r"(?u)\b\w+\b|[!?£$]",  # noqa: S106 - a regex, not a password
        dtype=np.float32,
    )
    chars = CompactTfidf(
        analyzer="char_wb",
        ngram_range=(2, 5),
        min_df=3,
        max_features=40000,
        sublinear_tf=True,
        dtype=np.float32,
    )
    parts: list[tuple[str, Any]] = [("words", words), ("chars", chars)]
    if table is not None:
        parts.append(("vectors", WordVectors(np.asarray(table[0], dtype=str), table[1])))
    return FeatureUnion(
        [
            ("text", Pipeline([("norm", Normaliser()), ("parts", FeatureUnion(parts))])),
            ("hand", HandFeatures()),
        ]
    )
