"""A seeded pyod ensemble (ECOD, IsolationForest, HBOS) with the scikit-learn estimator contract.

Inputs are robustly scaled (heavy-tailed non-negative columns log-transformed, then centred
on the median and divided by the IQR, clipped), each detector's raw score is turned into
[0, 1] by its rank among the training scores, and the ranks are averaged. Higher is more
anomalous, everywhere.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
ArrayLike = FloatArray | Sequence[Sequence[float]]
DETECTORS: tuple[str, ...] = ("ecod", "iforest", "hbos")
# Below this many rows the detectors' density estimates mean nothing; the robust z-scores
# alone then rank the rows.
MIN_ROWS_FOR_MODELS = 8


def _cache_kernel(module: Any, name: str) -> None:
    """Let numba cache one of pyod's compiled kernels on disk.

    Compiling the HBOS kernel costs 10-30 s in every new process (each scheduled scan), ECOD's
    tie-breaking loop about 0.5 s; with the cache only the first run pays. pyod's
    `n_bins="auto"` avoids numba but loops in Python per row.
    """
    kernel = getattr(module, name, None)
    enable = getattr(kernel, "enable_caching", None)
    if callable(enable):
        with contextlib.suppress(RuntimeError):  # no writable cache dir: compile in memory
            enable()


class _IsolationForest:
    """pyod's `IForest` with one scoring pass over the training rows instead of two.

    pyod fits scikit-learn's IsolationForest with `contamination=0.1` (which scores every
    training row to place the offset) and then scores them all again for `decision_scores_`.
    Here the forest is grown identically (`contamination` does not touch the trees), the rows
    are scored once, and the offset and the inverted scores are derived exactly as pyod and
    scikit-learn compute them, so `decision_scores_` and `decision_function` are the same.
    """

    contamination = 0.1

    def __init__(self, *, n_estimators: int, max_samples: int, random_state: int) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X: FloatArray) -> _IsolationForest:
        from sklearn.ensemble import IsolationForest

        self.detector_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=self.max_samples, contamination="auto",
            max_features=1.0, bootstrap=False, n_jobs=1, random_state=self.random_state, verbose=0,
        ).fit(X)
        normality = self.detector_.score_samples(X)
        self.offset_ = np.percentile(normality, 100.0 * self.contamination)
        self.decision_scores_ = (normality - self.offset_) * -1
        return self

    def decision_function(self, X: FloatArray) -> FloatArray:
        return np.asarray((self.detector_.score_samples(X) - self.offset_) * -1, dtype=np.float64)


def column_ecdf(X: FloatArray) -> FloatArray:
    """Each value's empirical CDF within its column, exactly as pyod's `column_ecdf` gives it:
    the `linspace(1/n, 1, n)` probability at the last sorted position of the value's ties.

    pyod sorts the C-ordered matrix along its strided first axis and walks the ties in a numba
    loop; here each contiguous column is sorted and its tie groups found with numpy.
    """
    n, m = X.shape
    # pyod's probabilities, transposed so that each feature's row is contiguous.
    probabilities = np.ascontiguousarray(np.linspace(np.ones(m) / n, np.ones(m), n).T)
    out = np.empty((m, n), dtype=np.float64)
    for j, column in enumerate(np.ascontiguousarray(X.T)):  # one pass per feature, not per row
        order = np.argsort(column)
        ordered = column[order]
        # The last sorted position of every tie group, repeated over the group.
        group_last = np.append(np.flatnonzero(ordered[1:] != ordered[:-1]), n - 1)
        last_tie = np.repeat(group_last, np.diff(group_last, prepend=-1))
        out[j, order] = probabilities[j, last_tie]
    return np.ascontiguousarray(out.T)  # C order, as pyod returns it (row sums depend on it)


class _ECOD:
    """pyod's `ECOD` (single job) with a faster, identical ECDF (`column_ecdf`).

    `decision_scores_` are the training rows' scores; `decision_function` scores new rows
    together with the training rows, as pyod does."""

    def fit(self, X: FloatArray) -> _ECOD:
        self.decision_scores_ = self._scores(np.asarray(X, dtype=np.float64))
        self.X_train = np.asarray(X, dtype=np.float64)
        return self

    def decision_function(self, X: FloatArray) -> FloatArray:
        rows = np.asarray(X, dtype=np.float64)
        return self._scores(np.concatenate((self.X_train, rows), axis=0))[-rows.shape[0]:]

    @staticmethod
    def _scores(X: FloatArray) -> FloatArray:
        from scipy.stats import skew

        U_l = -1 * np.log(column_ecdf(X))
        U_r = -1 * np.log(column_ecdf(-X))
        skewness = np.sign(np.nan_to_num(skew(X, axis=0)))
        U_skew = U_l * -1 * np.sign(skewness - 1) + U_r * np.sign(skewness + 1)
        outlying = np.maximum(U_skew, np.maximum(U_l, U_r))  # pyod's O, in its argument order
        return np.asarray(outlying.sum(axis=1).ravel(), dtype=np.float64)


class NotFittedError(RuntimeError):
    """`decision_function` was called before `fit`."""


class AnomalyEnsemble:
    """Unsupervised anomaly score in [0, 1] per row, and the features that drove it.

    Parameters only are stored here; `fit` learns the scaling (`center_`, `scale_`,
    `log_columns_`), the detectors (`detectors_`) and their training scores (`train_scores_`).
    """

    def __init__(
        self,
        detectors: Sequence[str] = DETECTORS,
        *,
        n_estimators: int = 100,
        n_bins: int = 20,
        clip: float = 10.0,
        random_state: int = 0,
    ) -> None:
        self.detectors = detectors
        self.n_estimators = n_estimators
        self.n_bins = n_bins
        self.clip = clip
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "detectors": self.detectors,
            "n_estimators": self.n_estimators,
            "n_bins": self.n_bins,
            "clip": self.clip,
            "random_state": self.random_state,
        }

    # -- scaling ---------------------------------------------------------------------------
    def _fit_scaling(self, X: FloatArray) -> None:
        with warnings.catch_warnings():
            # all-missing columns: their statistics are NaN and replaced below
            warnings.simplefilter("ignore", RuntimeWarning)
            self._fit_scaling_stats(X)

    def _fit_scaling_stats(self, X: FloatArray) -> None:
        finite = np.where(np.isfinite(X), X, np.nan)
        col_min = np.nanmin(np.where(np.isnan(finite), np.inf, finite), axis=0)
        col_max = np.nanmax(np.where(np.isnan(finite), -np.inf, finite), axis=0)
        # Counts and volumes span orders of magnitude; compare them on a log scale.
        self.log_columns_ = (col_min >= 0) & (col_max > 50)
        logged = self._log(finite)
        median = np.nanmedian(logged, axis=0)
        q75, q25 = np.nanpercentile(logged, [75, 25], axis=0)
        iqr = q75 - q25
        std = np.nanstd(logged, axis=0)
        scale = np.where(iqr > 1e-12, iqr / 1.349, np.where(std > 1e-12, std, 1.0))
        self.center_ = np.nan_to_num(median, nan=0.0)
        self.scale_ = np.nan_to_num(scale, nan=1.0)

    def _log(self, X: FloatArray) -> FloatArray:
        out = X.copy()
        cols = self.log_columns_
        out[:, cols] = np.log1p(np.clip(out[:, cols], 0, None))
        return out

    def transform(self, X: ArrayLike) -> FloatArray:
        """Robust z-scores: log where heavy-tailed, (x - median) / IQR-sigma, clipped; nulls 0."""
        self._check_fitted()
        arr = np.asarray(X, dtype=np.float64)
        z = (self._log(np.where(np.isfinite(arr), arr, np.nan)) - self.center_) / self.scale_
        return np.clip(np.nan_to_num(z, nan=0.0), -self.clip, self.clip)

    # -- estimator contract ----------------------------------------------------------------
    def fit(self, X: ArrayLike) -> AnomalyEnsemble:
        """Learn the scaling and fit every detector on `X` (rows are entities)."""
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] == 0:
            raise ValueError("fit needs a non-empty 2-D array")
        self._fit_scaling(arr)
        Z = self.transform(arr)
        self.n_features_in_ = arr.shape[1]
        self.detectors_: dict[str, Any] = {}
        self.train_scores_: dict[str, FloatArray] = {}
        raw: dict[str, FloatArray] = {}
        if arr.shape[0] >= MIN_ROWS_FOR_MODELS:
            for name in self.detectors:
                model = self._make(name, arr.shape[0])
                model.fit(Z)
                self.detectors_[name] = model
                raw[name] = np.asarray(model.decision_scores_, dtype=np.float64)
        else:
            raw["zscore"] = self._zscore_raw(Z)
        self.train_scores_ = {name: np.sort(values) for name, values in raw.items()}
        # The training rows' own scores, kept so scoring the fitted data needs no second pass.
        self.training_decision_ = np.clip(
            np.mean(np.vstack([self._rank(n, v) for n, v in raw.items()]), axis=0), 0.0, 1.0
        )
        return self

    def _make(self, name: str, n_rows: int) -> Any:
        # pyod (with scikit-learn, scipy and matplotlib behind it) is imported on first fit
        # only: importing it costs seconds at every process start, scoring or not.
        if name == "ecod":
            return _ECOD()
        if name == "iforest":
            return _IsolationForest(
                n_estimators=self.n_estimators,
                max_samples=min(256, n_rows),
                random_state=self.random_state,
            )
        if name == "hbos":
            from pyod.models import hbos as hbos_module

            _cache_kernel(hbos_module, "_calculate_outlier_scores")
            # pyod needs > 2 bins
            return hbos_module.HBOS(n_bins=min(self.n_bins, max(3, n_rows // 5)))
        raise ValueError(f"unknown detector {name!r}; expected one of {', '.join(DETECTORS)}")

    @staticmethod
    def _zscore_raw(Z: FloatArray) -> FloatArray:
        # Root-mean-square of the robust z-scores: large when any feature is far out.
        return np.sqrt(np.mean(Z**2, axis=1)) if Z.shape[1] else np.zeros(Z.shape[0])

    def _check_fitted(self) -> None:
        if not hasattr(self, "center_"):
            raise NotFittedError("AnomalyEnsemble is not fitted; call fit(X) first")

    def detector_scores(self, X: ArrayLike) -> dict[str, FloatArray]:
        """Each detector's score in [0, 1]: the share of training rows it scored lower."""
        self._check_fitted()
        Z = self.transform(X)
        raw: dict[str, FloatArray] = {
            name: np.asarray(model.decision_function(Z), dtype=np.float64)
            for name, model in self.detectors_.items()
        }
        if not raw:
            raw["zscore"] = self._zscore_raw(Z)
        return {name: self._rank(name, values) for name, values in raw.items()}

    def _rank(self, name: str, values: FloatArray) -> FloatArray:
        train = self.train_scores_[name]
        # Mid-rank (ties share the average position), so constant scores map to 0.5.
        below = np.searchsorted(train, values, side="left")
        at_or_below = np.searchsorted(train, values, side="right")
        return np.asarray((below + at_or_below) / (2.0 * len(train)), dtype=np.float64)

    def decision_function(self, X: ArrayLike) -> FloatArray:
        """Combined anomaly score in [0, 1] per row: the mean of the detectors' rank scores."""
        per_detector = self.detector_scores(X)
        return np.clip(np.mean(np.vstack(list(per_detector.values())), axis=0), 0.0, 1.0)

    def fit_decision(self, X: ArrayLike) -> FloatArray:
        """`fit(X)` then the scores of `X` itself, from the fit (no second scoring pass)."""
        return self.fit(X).training_decision_

    def _top_features(self, X: ArrayLike, top: int) -> tuple[NDArray[np.intp], FloatArray]:
        """Per row, the column indices of the `top` largest |z| (ties: lower column first, as a
        stable sort would order them) and their signed z-scores."""
        Z = self.transform(X)
        k = min(top, Z.shape[1])
        magnitude = np.abs(Z)
        order = np.empty((Z.shape[0], k), dtype=np.intp)
        rows = np.arange(Z.shape[0])
        # k passes of argmax (first maximum wins) instead of a full sort of every row.
        for slot in range(k):
            best = np.argmax(magnitude, axis=1)
            order[:, slot] = best
            magnitude[rows, best] = -1.0
        return order, np.take_along_axis(Z, order, axis=1)

    def contributions(self, X: ArrayLike, names: Sequence[str], top: int = 3) -> list[dict[str, float]]:
        """Per row, the `top` features furthest from the population (signed robust z-scores)."""
        order, picked = self._top_features(X, top)
        if order.shape[1] == 0:
            return [{} for _ in range(order.shape[0])]
        return [
            {names[j]: round(z, 3) for j, z in zip(row, zs, strict=True) if abs(z) >= 1.0}
            for row, zs in zip(order.tolist(), picked.tolist(), strict=True)
        ]

    def contributions_json(self, X: ArrayLike, names: Sequence[str], top: int = 3) -> list[str]:
        """`contributions` as JSON objects with sorted keys (`json.dumps(..., sort_keys=True)`),
        written without building a dict per row."""
        order, picked = self._top_features(X, top)
        if order.shape[1] == 0:
            return ["{}"] * order.shape[0]
        keys = [json.dumps(name) for name in names]
        out: list[str] = []
        for row, zs in zip(order.tolist(), picked.tolist(), strict=True):
            items = sorted((names[j], j, z) for j, z in zip(row, zs, strict=True) if abs(z) >= 1.0)
            # json.dumps writes floats with repr, as here.
            out.append("{" + ", ".join(f"{keys[j]}: {round(z, 3)!r}" for _, j, z in items) + "}")
        return out
