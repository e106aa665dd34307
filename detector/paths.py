"""Where the project's bundled rules and data live."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def rules_dir() -> Path:
    """The YAML rules and taxonomies; `$DISTILLGUARD_RULES` overrides the bundled folder."""
    return Path(os.environ.get("DISTILLGUARD_RULES", PROJECT_ROOT / "rules"))


def data_dir() -> Path:
    """Committed samples, mappings and labelled examples."""
    return PROJECT_ROOT / "data"
