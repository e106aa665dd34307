"""`distillguard`: a thin command line over the `detector` API."""

from detector.cli import (  # noqa: F401  (importing a module registers its command)
    dashboard_cmd,
    evaluate_cmd,
    export_cmd,
    ingest_cmd,
    scan_cmd,
    simulate_cmd,
    status_cmd,
)
from detector.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
