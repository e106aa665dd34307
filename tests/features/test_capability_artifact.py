"""The committed capability model artifact: current with the labelled examples, equal to a fresh fit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.features import capability_model
from detector.features.capability_model import (
    CapabilityModel,
    artifact_path,
    fit_default_model,
    load_artifact,
    load_examples,
    save_artifact,
    training_digest,
)


def test_committed_artifact_matches_the_training_data() -> None:
    # Fails when examples.csv or the hyperparameters changed without re-running
    # `python -m detector.features.capability_model`.
    with np.load(artifact_path(), allow_pickle=False) as stored:
        assert str(stored["digest"]) == training_digest()
    assert load_artifact(artifact_path()) is not None


def test_artifact_predicts_exactly_like_a_fresh_fit() -> None:
    fitted = fit_default_model()
    loaded = load_artifact(artifact_path())
    assert loaded is not None
    texts = load_examples("held_out").get_column("text")
    assert loaded.classes_.tolist() == fitted.classes_.tolist()
    assert np.array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))


def test_stale_or_missing_artifact_falls_back_to_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = CapabilityModel(n_features=1 << 10, epochs=2).fit(
        ["solve x + 1 = 2", "write a poem"], ["math_reasoning", "writing"]
    )
    path = tmp_path / "model.npz"
    save_artifact(small, path)
    assert load_artifact(path) is not None  # same examples file: current
    monkeypatch.setattr(capability_model, "training_digest", lambda model=None: "other data")
    assert load_artifact(path) is None  # fitted on other examples: stale
    assert load_artifact(tmp_path / "absent.npz") is None

    monkeypatch.setattr(capability_model, "artifact_path", lambda: tmp_path / "absent.npz")
    capability_model.trained_capability_model.cache_clear()
    try:
        model = capability_model.trained_capability_model()
        assert len(model.classes_) == len(load_examples("train").get_column("capability").unique())
    finally:
        capability_model.trained_capability_model.cache_clear()


def test_scoring_with_the_artifact_does_not_import_scikit_learn() -> None:
    code = (
        "import sys, polars as pl\n"
        "from detector.features.capability import classify_requests\n"
        "frame = pl.DataFrame({'request_id': ['r'], 'prompt': ['Solve 2x = 4'],"
        " 'system_prompt': [None], 'tools': [None]}, schema_overrides={'system_prompt': pl.String, 'tools': pl.String})\n"
        "print(classify_requests(frame)['capability'][0], 'sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    label, imported = out.stdout.split()
    assert imported == "False"
    assert label == "math_reasoning"
