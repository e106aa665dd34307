"""The learned half of the capability classifier: hashed n-grams and a seeded logistic model (SGD).

Tokenizing with scikit-learn's HashingVectorizer runs Python per document. Here polars
lowercases a whole batch; tokens are what `str.replace_many(SPLIT_FROM, SPLIT_TO).str.split(" ")`
gives (whitespace splits, punctuation marks are tokens of their own, digits read as 0) and each
is hashed with polars' seeded hash, so words and single symbols are tokens; bigrams hash pairs
of neighbours. The numba pass of `detector.features.token_hashes` splits and hashes the same way
without materialising the tokens, and at prediction time a second numba pass sums the weights of
each text's hash buckets straight from the token hashes (same float32 sums as the CSR product,
same bits). Only the first `max_chars` characters of a prompt are read: the task is stated at
the start, and the cap bounds the cost of multi-page prompts. Scripts without spaces
(Chinese, Japanese) give sentence-long tokens; the YAML rules carry those."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Self

import numpy as np
import polars as pl
from numba import njit
from scipy import sparse

from detector.features.token_hashes import TokenHashes, byte_classes, token_hashes
from detector.paths import data_dir

_log = logging.getLogger(__name__)

HASH_SEED = 1729
# Bumped when the artifact's layout or the tokenization changes: an old artifact then reads as stale.
ARTIFACT_FORMAT = 1
BIGRAM_MIX = np.uint64(0x9E3779B97F4A7C15)
BATCH_ROWS = 20_000
WHITESPACE = ["\n", "\r", "\t"]
PUNCTUATION = list(",.;:!?()[]{}\"'`=+-*/\\<>|$^%#@&~")
DIGITS = list("123456789")
# One Aho-Corasick pass turns whitespace into spaces, pads punctuation into tokens of its own
# and writes every digit as 0, so numbers become shapes ("00.0") that generalise across slots.
SPLIT_FROM = WHITESPACE + PUNCTUATION + DIGITS
SPLIT_TO = [" "] * len(WHITESPACE) + [f" {mark} " for mark in PUNCTUATION] + ["0"] * len(DIGITS)
# The same split, done by the numba tokenizer of `detector.features.token_hashes`.
_BYTE_CLASSES = byte_classes(WHITESPACE, PUNCTUATION, DIGITS)


def examples_path() -> Path:
    return data_dir() / "capability_examples" / "examples.csv"


def artifact_path() -> Path:
    """The fitted model written by `python -m detector.features.capability_model`."""
    return data_dir() / "capability_examples" / "model.npz"


def token_hashes_of(texts: pl.Series, max_chars: int) -> TokenHashes:
    """Polars hashes (seed HASH_SEED) of the tokens of the lowercased first `max_chars` characters,
    split as `str.replace_many(SPLIT_FROM, SPLIT_TO).str.split(" ")` splits them, empty tokens dropped."""
    lowered = texts.fill_null("").str.head(max_chars).str.to_lowercase()
    return token_hashes(lowered, _BYTE_CLASSES, HASH_SEED)


def hashed_ngrams(texts: pl.Series, n_features: int, max_chars: int) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Hashed unigram and bigram rows of the lowercased, whitespace-split start of each text.

    Each token weighs 1/sqrt(tokens in its row), the l2 norm when features are distinct.
    Returned as two CSR matrices built straight from row offsets (no sort, duplicates kept:
    products with them sum duplicates anyway); add them for a single matrix.
    """
    tokens = token_hashes_of(texts, max_chars)
    unigram_counts = np.diff(tokens.starts)
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), unigram_counts)
    hashes = tokens.hashes
    same_row = rows[:-1] == rows[1:]
    bigram_rows = rows[:-1][same_row]
    bigrams = (hashes[:-1] * BIGRAM_MIX + hashes[1:])[same_row]  # wraps modulo 2**64 by design
    bigram_counts = np.bincount(bigram_rows, minlength=len(texts))
    scale = 1.0 / np.sqrt(np.maximum(unigram_counts + bigram_counts, 1))

    def matrix(row_of: np.ndarray, keys: np.ndarray, counts: np.ndarray) -> sparse.csr_matrix:
        indptr = np.concatenate([[0], np.cumsum(counts)])
        columns = _buckets(keys, n_features).astype(np.int32)
        data = scale[row_of].astype(np.float32)
        return sparse.csr_matrix((data, columns, indptr), shape=(len(texts), n_features))

    return matrix(rows, hashes, unigram_counts), matrix(bigram_rows, bigrams, bigram_counts)


def _buckets(keys: np.ndarray, n_features: int) -> np.ndarray:
    # a mask is the same modulo for a power of two, and far cheaper than uint64 division
    if n_features & (n_features - 1) == 0:
        return keys & np.uint64(n_features - 1)
    return keys % np.uint64(n_features)


@njit(nogil=True, cache=True)
def _ngram_logits(
    hashes: np.ndarray,
    starts: np.ndarray,
    rows: np.ndarray,
    weights: np.ndarray,
    intercept: np.ndarray,
    n_features: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """`unigrams @ W + bigrams @ W + intercept` of `hashed_ngrams`, without the matrices.

    `W[bucket]` is `weights[rows[bucket]]`, or zero where `rows` is -1: the model uses a
    quarter of its buckets, and the compact table stays in cache. Sums run per text in token
    order in float32, as scipy's CSR product does, and skipping a zero weight adds +0.0, so
    the logits are the same bits.
    """
    n, width = starts.shape[0] - 1, weights.shape[1]
    out = np.empty((n, width), np.float32)
    mask = np.uint64(n_features - 1)
    power_of_two = n_features & (n_features - 1) == 0
    divisor = np.uint64(n_features)
    for i in range(n):
        first, end = starts[i], starts[i + 1]
        total = max(2 * (end - first) - 1, 1)
        scale = np.float32(1.0 / np.sqrt(np.float64(total)))
        unigram = np.zeros(width, np.float32)
        bigram = np.zeros(width, np.float32)
        for k in range(first, end):
            key = hashes[k]
            row = rows[np.int64(key & mask) if power_of_two else np.int64(key % divisor)]
            if row >= 0:
                for c in range(width):
                    unigram[c] += scale * weights[row, c]
            if k + 1 < end:
                key = key * BIGRAM_MIX + hashes[k + 1]
                row = rows[np.int64(key & mask) if power_of_two else np.int64(key % divisor)]
                if row >= 0:
                    for c in range(width):
                        bigram[c] += scale * weights[row, c]
        for c in range(width):
            out[i, c] = unigram[c] + bigram[c] + intercept[c]
    return out


class CapabilityModel:
    """Text-only capability model with the scikit-learn estimator contract."""

    def __init__(
        self, n_features: int = 1 << 18, max_chars: int = 1000, alpha: float = 1e-5, epochs: int = 20, random_state: int = 0
    ) -> None:
        self.n_features = n_features
        self.max_chars = max_chars
        self.alpha = alpha
        self.epochs = epochs
        self.random_state = random_state

    def fit(self, texts: Sequence[str] | pl.Series, labels: Sequence[str]) -> Self:
        # scikit-learn is imported only to fit: scans load the fitted artifact and never pay its import
        from sklearn.linear_model import SGDClassifier

        unigrams, bigrams = hashed_ngrams(pl.Series(texts, dtype=pl.String), self.n_features, self.max_chars)
        features = unigrams + bigrams
        # One-vs-rest logistic loss by SGD: seconds to fit, where lbfgs takes a minute on 2**18 columns.
        model = SGDClassifier(loss="log_loss", alpha=self.alpha, max_iter=self.epochs, tol=None, random_state=self.random_state)
        model.fit(features, np.asarray(labels))
        self.classes_: np.ndarray = model.classes_
        coef, intercept = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # one decision z; softmax of (-z/2, z/2) is the sigmoid of z
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        self.coef_: np.ndarray = coef.astype(np.float32)
        self.intercept_: np.ndarray = intercept.astype(np.float32)
        self.weights_: np.ndarray = np.ascontiguousarray(self.coef_.T)
        return self

    def predict_proba(self, texts: Sequence[str] | pl.Series) -> np.ndarray:
        """Class probabilities in the order of `classes_`, computed in batches."""
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("CapabilityModel is not fitted; call fit() first")
        series = pl.Series(texts, dtype=pl.String)
        used = np.flatnonzero(np.any(self.weights_ != 0, axis=1))
        rows = np.full(self.n_features, -1, dtype=np.int32)
        rows[used] = np.arange(len(used), dtype=np.int32)
        weights = np.ascontiguousarray(self.weights_[used])
        out = np.empty((len(series), len(self.classes_)), dtype=np.float64)
        for start in range(0, len(series), BATCH_ROWS):
            batch = series.slice(start, BATCH_ROWS)
            tokens = token_hashes_of(batch, self.max_chars)
            logits = _ngram_logits(tokens.hashes, tokens.starts, rows, weights, self.intercept_, self.n_features)
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            out[start : start + len(batch)] = probabilities / probabilities.sum(axis=1, keepdims=True)
        return out

    def predict(self, texts: Sequence[str] | pl.Series) -> np.ndarray:
        return self.classes_[self.predict_proba(texts).argmax(axis=1)]


def load_examples(split: str | None = None) -> pl.DataFrame:
    """The labelled examples (text, capability, source, group, split), optionally one split."""
    frame = pl.read_csv(examples_path(), schema_overrides={"text": pl.String})
    return frame if split is None else frame.filter(pl.col("split") == split)


def training_digest(model: CapabilityModel | None = None) -> str:
    """Hex digest of what the fitted model depends on: the examples file, hyperparameters, format."""
    model = CapabilityModel() if model is None else model
    digest = hashlib.blake2b(digest_size=16)
    digest.update(examples_path().read_bytes())
    params = (ARTIFACT_FORMAT, HASH_SEED, model.n_features, model.max_chars, model.alpha, model.epochs, model.random_state)
    digest.update(repr(params).encode())
    return digest.hexdigest()


def fit_default_model() -> CapabilityModel:
    """Fit the default model on the training split of the labelled examples (needs scikit-learn)."""
    train = load_examples("train")
    return CapabilityModel().fit(train.get_column("text"), train.get_column("capability").to_list())


def save_artifact(model: CapabilityModel, path: Path) -> None:
    """Write the fitted coefficients: only the hash buckets with a non-zero weight, as float32."""
    used = np.flatnonzero(np.any(model.weights_ != 0, axis=1)).astype(np.int32)
    with path.open("wb") as handle:
        np.savez_compressed(
            handle,
            digest=np.array(training_digest(model)),
            classes=np.asarray(model.classes_, dtype=str),
            buckets=used,
            weights=model.weights_[used],
            intercept=model.intercept_,
            params=np.array([model.n_features, model.max_chars, model.epochs, model.random_state], dtype=np.int64),
            alpha=np.float64(model.alpha),
        )


def load_artifact(path: Path) -> CapabilityModel | None:
    """The model stored at `path`, or None when the file is missing or was fitted on other data."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as stored:
        n_features, max_chars, epochs, random_state = (int(value) for value in stored["params"])
        model = CapabilityModel(n_features, max_chars, float(stored["alpha"]), epochs, random_state)
        if str(stored["digest"]) != training_digest(model):
            return None
        weights = np.zeros((n_features, len(stored["classes"])), dtype=np.float32)
        weights[stored["buckets"]] = stored["weights"]
        model.classes_ = stored["classes"]
        model.weights_ = weights
        model.coef_ = np.ascontiguousarray(weights.T)
        model.intercept_ = stored["intercept"].astype(np.float32)
    return model


@lru_cache(maxsize=1)
def trained_capability_model() -> CapabilityModel:
    """The fitted default model: the committed artifact when it matches the examples, else trained here."""
    model = load_artifact(artifact_path())
    if model is None:
        _log.warning("capability model artifact %s missing or stale; training the model in this process", artifact_path())
        model = fit_default_model()
    return model


def main() -> None:
    """Fit the default model and write the artifact (run after editing the labelled examples)."""
    model = fit_default_model()
    save_artifact(model, artifact_path())
    print(f"wrote {artifact_path()} ({artifact_path().stat().st_size:,} bytes, digest {training_digest(model)})")


if __name__ == "__main__":
    main()
