"""`distillguard dashboard`: start the Streamlit review dashboard on localhost."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from detector import store
from detector.cli.app import DEFAULT_DB_PATH, DbOption, app, reports_errors
from detector.errors import DistillguardError, StoreLockedError
from detector.paths import PROJECT_ROOT

APP = PROJECT_ROOT / "dashboard" / "app.py"


def refresh_review_tables(db: Path) -> str | None:
    """Build the dashboard tables when the newest finished scan is not reflected in them
    (a store scanned before the dashboard existed); returns a note for the user, if any."""
    from detector.campaigns.profile import table_exists
    from detector.review import is_current, precompute  # heavy: only for this command

    try:
        con = store.connect(db)
    except StoreLockedError:
        return "the store is busy (a scan or an ingest is running); the dashboard will wait for it"
    try:
        scanned = con.execute("SELECT max(run_id) FROM scan_runs WHERE status = 'done'").fetchall()[0][0]
        has_meta = table_exists(con, "dash_meta")
        built = con.execute("SELECT max(scan_run_id) FROM dash_meta").fetchall()[0][0] if has_meta else None
        if scanned is None:
            return "no scan has finished on this store yet: run `distillguard scan` first"
        if not has_meta or built != scanned or not is_current(con):
            precompute(con)
            return "built the review tables for the last scan"
        return None
    finally:
        con.close()


@app.command()
@reports_errors
def dashboard(
    db: DbOption = DEFAULT_DB_PATH,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8501,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind. Anything but 127.0.0.1 exposes prompts to the network.")
    ] = "127.0.0.1",
) -> None:
    """Start the review dashboard: triage campaigns, look at accounts, record verdicts.

    Serves on http://127.0.0.1:PORT only, unless --host says otherwise. Reads the tables the
    last scan precomputed; verdicts recorded there are applied by the next scan. Stop it with
    Ctrl-C.

    Example:

        distillguard dashboard --db logs.duckdb --port 8501
    """
    if importlib.util.find_spec("streamlit") is None:
        raise DistillguardError("the dashboard needs streamlit: pip install 'streamlit>=1.40'")
    if not db.exists():
        raise DistillguardError(f"no store at {db}: ingest and scan some logs first")
    note = refresh_review_tables(db)
    if note:
        typer.echo(f"distillguard: {note}", err=True)
    typer.echo(f"review dashboard on http://{host}:{port}  (store {db.resolve()}; Ctrl-C to stop)", err=True)
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    env = {**os.environ, store.DB_ENV: str(db.resolve())}
    code = run_until_stopped(command, env)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):
        raise typer.Exit(code=3)


def run_until_stopped(command: list[str], env: dict[str, str]) -> int:
    """Run the server; Ctrl-C or a SIGTERM to this process stops it too, never orphaning it."""
    child = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()
        return child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if child.poll() is None:
            child.kill()
            child.wait()
