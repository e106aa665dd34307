"""Detection quality per simulated world: simulate with campaign knobs, ingest, scan, evaluate.

Each world is `NAME:SEED[:KEY=VALUE,...]`, keys `size` and `share` (the campaign knobs
`size_factor` and `share_factor`), `own` (resellers' own system prompts, true/false), `days`
(default: the scale's own) and `packages` (prompts from the installed packages, true/false;
false = bundled prompts only). Under `ROOT/NAME/`: `sim/` (the simulation, reused when its
`world.json` matches the spec), `base.duckdb` (the ingested store, reused), then `RUN.duckdb`
(a fresh copy of the base, scanned), `RUN.json` (`distillguard evaluate --json`) and the logs.
Ingest, scan and evaluate run as child processes under `/usr/bin/time -v`; the script ends
with one Markdown row per world: precision / recall / F1, campaigns alerted, the worst benign
population's false-positive rate, the minimum alert purity and the scan's errors divided by
the best baseline's (1 - F1 over 1 - F1).

    .venv/bin/python benchmarks/quality_worlds.py s1:1 n67:67:size=0.3,share=0.3,own=true \\
        n71:71:share=2,own=true,days=21,packages=false --root /tmp/quality
    .venv/bin/python benchmarks/quality_worlds.py --table-only --root /tmp/quality
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_measure import Measured, distillguard, fmt_mb, fmt_seconds, markdown_table, measure

TABLE_HEADER = (
    "world", "knobs", "run", "P / R / F1", "campaigns alerted", "worst benign FPR",
    "min alert purity", "errors ÷ best baseline", "FP / FN",
)
TIMES = "\N{MULTIPLICATION SIGN}"  # the knobs column of docs/quality.md: "size TIMES 0.5"
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


@dataclass(frozen=True)
class WorldSpec:
    """One simulated world: its directory name, seed and the simulator's campaign knobs."""

    name: str
    seed: int
    size: float = 1.0
    share: float = 1.0
    own: bool = False
    days: int | None = None
    packages: bool = True

    def describe(self) -> str:
        """The knobs in words, as in docs/quality.md ('default' when none is set)."""
        parts = []
        if self.size != 1.0:
            parts.append(f"size {TIMES}{self.size:g}")
        if self.share != 1.0:
            parts.append(f"share {TIMES}{self.share:g}")
        if self.own:
            parts.append("resellers' own system prompts")
        if self.days is not None:
            parts.append(f"{self.days} days")
        if not self.packages:
            parts.append("bundled prompts only")
        return ", ".join(parts) or "default"


def _flag(key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{key}={value!r}: expected true or false")


def parse_world(text: str) -> WorldSpec:
    """'n67:67:size=0.3,share=0.3,own=true' -> WorldSpec(name='n67', seed=67, ...)."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"world {text!r}: expected NAME:SEED[:KEY=VALUE,...]")
    name = parts[0]
    if "/" in name or name in {".", ".."}:
        raise ValueError(f"world name {name!r} must be a plain directory name")
    try:
        seed = int(parts[1])
    except ValueError:
        raise ValueError(f"world {text!r}: seed {parts[1]!r} is not an integer") from None
    knobs: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in (parts[2] if len(parts) > 2 else "").split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"world {text!r}: {item!r} is not KEY=VALUE")
        if key in knobs:
            raise ValueError(f"world {text!r}: {key} given twice")
        if key in ("size", "share"):
            knobs[key] = float(value)
            if knobs[key] <= 0:
                raise ValueError(f"world {text!r}: {key} must be positive")
        elif key == "days":
            knobs[key] = int(value)
            if knobs[key] < 1:
                raise ValueError(f"world {text!r}: days must be at least 1")
        elif key in ("own", "packages"):
            knobs[key] = _flag(key, value)
        else:
            raise ValueError(f"world {text!r}: unknown key {key!r} (size, share, own, days, packages)")
    return WorldSpec(name=name, seed=seed, **knobs)


def _prepare_sim(world: WorldSpec, scale: str, sim: Path) -> None:
    """Simulate the world into `sim` unless a simulation of the same spec is already there."""
    from detector.simulate import CampaignKnobs, simulate

    recorded = {"scale": scale, **asdict(world)}
    stamp = sim / "world.json"
    if (sim / "truth.csv").exists() and not stamp.exists():
        # A world simulated before this script (no record of its knobs): trust the spec given.
        print(f"[{world.name}] reusing {sim} (no world.json: assuming {world.describe()})",
              file=sys.stderr, flush=True)
        stamp.write_text(json.dumps(recorded, indent=2) + "\n")
        return
    if (sim / "truth.csv").exists():
        found = json.loads(stamp.read_text())
        if {k: v for k, v in found.items() if k != "name"} != {
            k: v for k, v in recorded.items() if k != "name"
        }:
            raise SystemExit(
                f"{sim} holds a different world ({found}); use another name or --root"
            )
        return
    shutil.rmtree(sim, ignore_errors=True)
    print(f"[{world.name}] simulate seed {world.seed}, {scale}, {world.describe()}",
          file=sys.stderr, flush=True)
    simulate(
        sim, seed=world.seed, scale=scale, parquet=True, days=world.days,
        use_packages=world.packages,
        knobs=CampaignKnobs(
            size_factor=world.size, share_factor=world.share, reseller_own_system_prompts=world.own
        ),
    )
    stamp.write_text(json.dumps(recorded, indent=2) + "\n")


def _step(label: str, command: Sequence[str], log: Path) -> Measured:
    print(f"[{label}] {' '.join(command)}", file=sys.stderr, flush=True)
    result = measure(command)
    log.write_text(result.stdout + result.stderr)
    return result


def run_world(world: WorldSpec, scale: str, root: Path, run: str) -> dict[str, Any]:
    """Simulate (or reuse), ingest (or reuse), scan a fresh copy of the base, evaluate it."""
    folder = root / world.name
    folder.mkdir(parents=True, exist_ok=True)
    sim = folder / "sim"
    _prepare_sim(world, scale, sim)
    (folder / "world.json").write_text((sim / "world.json").read_text())
    dg = distillguard()
    base = folder / "base.duckdb"
    if not base.exists():
        partial = folder / "base.partial.duckdb"
        partial.unlink(missing_ok=True)
        partial.with_name(partial.name + ".wal").unlink(missing_ok=True)
        _step(world.name, [dg, "ingest", str(sim / "requests.parquet"), "--accounts",
                           str(sim / "accounts.jsonl"), "--db", str(partial)],
              folder / "ingest.log")
        partial.rename(base)  # only a finished ingest becomes the reusable base
    db = folder / f"{run}.duckdb"
    db.unlink(missing_ok=True)
    db.with_name(db.name + ".wal").unlink(missing_ok=True)
    shutil.copyfile(base, db)
    scan = _step(world.name, [dg, "scan", "--db", str(db), "--no-review-tables"],
                 folder / f"{run}.scan.log")
    _step(world.name, [dg, "evaluate", "--db", str(db), "--truth", str(sim / "truth.csv"),
                       "--json", str(folder / f"{run}.json")], folder / f"{run}.eval.txt")
    cost = {"scan_wall_s": scan.wall, "scan_cpu_s": scan.cpu, "scan_peak_rss_mb": scan.rss_mb}
    (folder / f"{run}.cost.json").write_text(json.dumps(cost, indent=2) + "\n")
    print(f"[{world.name}] scan {fmt_seconds(scan.wall)} s wall, {fmt_seconds(scan.cpu)} CPU-s, "
          f"{fmt_mb(scan.rss_mb)} MB peak", file=sys.stderr, flush=True)
    return cost


def _fixed(value: float | None) -> str:
    """Three decimals; 'n/a' for a figure evaluate leaves undefined (null in its JSON)."""
    return "n/a" if value is None else f"{value:.3f}"


def _worst_population(populations: list[dict[str, Any]]) -> str:
    flagged = [p for p in populations if p["flagged"]]
    if not flagged:
        return "0.0 %"
    worst = max(flagged, key=lambda p: (p["false_positive_rate"], p["flagged"]))
    return (f"{100 * worst['false_positive_rate']:.1f} % "
            f"({worst['kind']} {worst['flagged']}/{worst['accounts']})")


def _campaigns_alerted(report: dict[str, Any]) -> str:
    summary = report["alert_summary"]
    text = f"{summary['campaigns_alerted']}/{summary['campaigns']}"
    missed = [
        f"{c['label']}: {c['kind']}, {c['accounts']} account{'' if c['accounts'] == 1 else 's'}"
        for c in report["campaigns"] if not c["alerted"]
    ]
    return text + (f" (missed {'; '.join(missed)})" if missed else "")


def _error_ratio(report: dict[str, Any]) -> str:
    best = max(report["baselines"], key=lambda b: b["f1"] or 0.0)
    if best["f1"] is not None and best["f1"] >= 1.0:
        return f"n/a ({best['method']} has F1 1.0)"
    scan_f1 = report["scan"]["f1"] or 0.0  # no account flagged: every attack account an error
    return f"{(1 - scan_f1) / (1 - (best['f1'] or 0.0)):.3f}"


def table_row(world: str, knobs: str, run: str, report: dict[str, Any]) -> list[str]:
    """One table row from the JSON of `distillguard evaluate --json`."""
    scan = report["scan"]
    purity = report["alert_summary"]["purity_min"]
    return [
        world,
        knobs,
        run,
        " / ".join(_fixed(scan[k]) for k in ("precision", "recall", "f1")),
        _campaigns_alerted(report),
        _worst_population(scan["populations"]),
        "n/a (no alert)" if purity is None else _fixed(purity),
        _error_ratio(report),
        f"{scan['false_positives']} / {scan['false_negatives']}",
    ]


def quality_table(root: Path, names: Sequence[str], run: str) -> str:
    """The Markdown table of every named world under `root` that has `RUN.json`."""
    rows = []
    for name in names:
        report_path = root / name / f"{run}.json"
        if not report_path.exists():
            print(f"[{name}] no {report_path}: skipped", file=sys.stderr)
            continue
        stamp = root / name / "world.json"
        knobs = "(not recorded)"
        if stamp.exists():
            recorded = json.loads(stamp.read_text())
            recorded.pop("scale", None)
            knobs = WorldSpec(**recorded).describe()
        rows.append(table_row(name, knobs, run, json.loads(report_path.read_text())))
    return markdown_table(TABLE_HEADER, rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("worlds", nargs="*", help="NAME:SEED[:size=..,share=..,own=..,days=..,packages=..]")
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "large"])
    parser.add_argument("--root", type=Path, default=Path("/tmp/quality"))
    parser.add_argument("--run", default="after", help="name of the scanned copy and its files")
    parser.add_argument("--nice", type=int, default=10, help="niceness of this process and its steps")
    parser.add_argument("--table-only", action="store_true",
                        help="only print the table from existing RUN.json files (every world "
                             "under --root when no world is named; NAME alone is enough)")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    if args.table_only:
        names = [w.split(":", 1)[0] for w in args.worlds] or sorted(
            p.name for p in args.root.iterdir() if (p / f"{args.run}.json").exists()
        )
    else:
        if not args.worlds:
            parser.error("name at least one world (or use --table-only)")
        try:
            specs = [parse_world(w) for w in args.worlds]
        except ValueError as exc:
            parser.error(str(exc))
        if len({s.name for s in specs}) != len(specs):
            parser.error("world names must be distinct")
        for spec in specs:
            run_world(spec, args.scale, args.root, args.run)
        names = [s.name for s in specs]
    print(quality_table(args.root, names, args.run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
