"""The ensemble's shortcuts give what the plain computations give."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from detector.scoring import AnomalyEnsemble
from detector.scoring.ensemble import _IsolationForest


def _matrix(seed: int = 7, rows: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.lognormal(0, 1.2, size=(rows, 9))
    X[:, 3] = X[:, 2]            # identical columns: ties in |z| between features
    X[:, 5] = rng.integers(0, 3, rows)  # discrete: many equal values
    X[rng.random(rows) < 0.05, 7] = np.nan
    return X


def test_top_features_follow_a_stable_sort_of_abs_z():
    X = _matrix()
    model = AnomalyEnsemble(random_state=0).fit(X)
    Z = model.transform(X)
    expected = np.argsort(-np.abs(Z), axis=1, kind="stable")[:, :4]
    order, picked = model._top_features(X, 4)
    assert np.array_equal(order, expected)
    assert np.array_equal(picked, np.take_along_axis(Z, expected, axis=1))


def test_contributions_json_is_json_dumps_of_the_dicts():
    X = _matrix(seed=11)
    names = [f"f{i}" for i in range(X.shape[1] - 1)] + ['odd "name"']
    model = AnomalyEnsemble(random_state=0).fit(X)
    dicts = model.contributions(X, names, top=3)
    texts = model.contributions_json(X, names, top=3)
    assert texts == [json.dumps(d, sort_keys=True) for d in dicts]
    assert any(len(d) >= 2 for d in dicts) and any(not d for d in dicts)


@pytest.mark.parametrize("rows", [9, 300])
def test_single_pass_isolation_forest_matches_pyod(rows):
    from pyod.models.iforest import IForest

    X = _matrix(seed=3, rows=rows)
    Z = AnomalyEnsemble().fit(X).transform(X)
    ours = _IsolationForest(n_estimators=50, max_samples=min(256, rows), random_state=5).fit(Z)
    theirs = IForest(n_estimators=50, max_samples=min(256, rows), random_state=5).fit(Z)
    assert np.array_equal(ours.decision_scores_, theirs.decision_scores_)
    assert np.array_equal(ours.decision_function(Z[:20] * 1.5), theirs.decision_function(Z[:20] * 1.5))


def test_importing_the_scan_leaves_the_model_libraries_unloaded():
    code = (
        "import sys, detector.scan\n"
        "print(','.join(m for m in ('pyod', 'sklearn', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
