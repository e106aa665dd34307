"""Fixtures: the benchmark helper module, loaded from its file (benchmarks/ is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(filename: str) -> ModuleType:
    # A unique module name: dataclasses look their defining module up in sys.modules. Scripts
    # import their siblings by plain name (as when run as `python benchmarks/x.py`), so
    # benchmarks/ is on the path while the module loads.
    name = "distillguard_bench_" + filename.removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench_measure() -> ModuleType:
    return _load("bench_measure.py")


@pytest.fixture(scope="session")
def profile_summary() -> ModuleType:
    return _load("profile_summary.py")


@pytest.fixture(scope="session")
def quality_worlds_script() -> ModuleType:
    return _load("quality_worlds.py")


@pytest.fixture(scope="session")
def quality_daily_script() -> ModuleType:
    return _load("quality_daily.py")
