"""Write realistic canonical request logs (about 2-3 KB a record) for the ingest benchmark.

Records carry prompts of hundreds to thousands of characters, system prompts, multi-turn
`messages`, tool definitions on a third of the requests, a few thousand accounts and tens of
thousands of client IPs. Deterministic for a seed. Streams: memory stays flat at any count.

    python benchmarks/gen_requests.py --out /tmp/req.jsonl --count 1000000
    python benchmarks/gen_requests.py --out /tmp/req.parquet --count 1000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "from",
    "at",
    "or",
    "an",
    "have",
    "not",
    "function",
    "return",
    "value",
    "error",
    "request",
    "model",
    "data",
    "table",
    "query",
    "result",
    "system",
    "user",
    "input",
    "output",
    "python",
    "code",
    "test",
    "class",
    "method",
    "string",
    "number",
    "list",
    "array",
    "object",
    "file",
    "path",
    "server",
    "client",
    "explain",
    "describe",
    "write",
    "implement",
    "refactor",
    "optimize",
    "summarize",
    "translate",
    "compare",
    "analyze",
    "reasoning",
    "step",
    "answer",
    "question",
    "problem",
    "solution",
    "proof",
    "theorem",
    "integral",
    "matrix",
    "vector",
    "customer",
    "invoice",
    "report",
    "revenue",
    "quarter",
    "growth",
    "market",
    "policy",
    "contract",
    "clause",
    "section",
    "because",
    "however",
    "therefore",
    "although",
    "whereas",
    "moreover",
    "finally",
    "first",
    "second",
    "third",
    "next",
    "please",
    "carefully",
    "detailed",
    "concise",
    "example",
    "context",
    "document",
    "paragraph",
    "sentence",
    "word",
    "token",
]
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are an expert Python developer. Answer with working code and a short explanation.",
    "You are a careful math tutor. Show your reasoning step by step before the final answer.",
    "You are a customer support agent for an online store. Be polite and concise.",
    "You are a coding agent operating in a repository. Use the tools to read and edit files.",
)
MODELS = (
    "frontier-large-2026-01",
    "frontier-mini-2025-10",
    "reasoner-pro-2026-02",
    "coder-xl-2025-12",
)
AGENTS = (
    "python-httpx/0.27.0",
    "OpenAI/Python 1.51.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "curl/8.5.0",
    "agent-cli/2.3.1 (linux; x64)",
)
TOOL_DEFINITIONS: tuple[dict[str, Any], ...] = (
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file from the workspace and return its text.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {
                        "type": "string",
                        "description": "Path relative to the repository root",
                    }
                },
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "description": "Replace the content of a file in the workspace.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_tests",
            "description": "Run the project's test suite and return the failures.",
            "parameters": {
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Optional test name filter"}
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_web",
            "description": "Search the web and return the top results with snippets.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                "required": ["query"],
            },
        },
    },
)


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 22))
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, low: int, high: int) -> str:
    """Text of roughly `low` to `high` characters."""
    target = rng.randint(low, high)
    parts: list[str] = []
    size = 0
    while size < target:
        part = sentence(rng)
        parts.append(part)
        size += len(part) + 1
    return " ".join(parts)


def ip_pool(rng: random.Random, count: int) -> list[str]:
    pool = [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(count)
    ]
    pool += [
        f"2001:db8:{rng.randint(0, 0xFFFF):x}:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
        for _ in range(count // 10)
    ]
    return pool


def records(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Canonical request records, deterministic for `seed`."""
    rng = random.Random(seed)
    ips = ip_pool(rng, 20_000)
    accounts = [f"acct_{i:06d}" for i in range(5_000)]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for index in range(count):
        account = rng.choice(accounts)
        prompt = paragraph(rng, 250, 1_700)
        turns = rng.choice((0, 0, 2, 4))
        messages = []
        for turn in range(turns):
            role = "user" if turn % 2 == 0 else "assistant"
            messages.append({"role": role, "content": paragraph(rng, 60, 300)})
        if turns:
            messages.append({"role": "user", "content": prompt})
        when = start + timedelta(seconds=index * 0.9 + rng.random())
        record: dict[str, Any] = {
            "request_id": f"req_{seed:02d}_{index:010d}_{rng.getrandbits(32):08x}",
            "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "account_id": account,
            "api_key_id": f"key_{account[5:]}_{rng.randint(0, 2)}",
            "org_id": f"org_{int(account[5:]) // 20:04d}",
            "client_ip": rng.choice(ips),
            "user_agent": rng.choice(AGENTS),
            "model": rng.choice(MODELS),
            "system_prompt": rng.choice(SYSTEM_PROMPTS),
            "prompt": prompt,
            "messages": messages or None,
            "tools": list(rng.sample(TOOL_DEFINITIONS, rng.randint(1, 4)))
            if rng.random() < 0.35
            else None,
            "input_tokens": len(prompt) // 4 + rng.randint(0, 400),
            "output_tokens": rng.randint(20, 2_500),
            "status_code": 200 if rng.random() < 0.97 else rng.choice((400, 429, 500)),
        }
        yield record


def write_jsonl(path: Path, count: int, seed: int) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:  # type: ignore[operator]
        for record in records(count, seed):
            out.write(json.dumps(record, separators=(",", ":")))
            out.write("\n")


PARQUET_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("timestamp", pa.string()),
        ("account_id", pa.string()),
        ("api_key_id", pa.string()),
        ("org_id", pa.string()),
        ("client_ip", pa.string()),
        ("user_agent", pa.string()),
        ("model", pa.string()),
        ("system_prompt", pa.string()),
        ("prompt", pa.string()),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        (
            "tools",
            pa.string(),
        ),  # mixed names / definition objects: JSON text, as the contract allows
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("status_code", pa.int32()),
    ]
)


def write_parquet(path: Path, count: int, seed: int, batch: int = 20_000) -> None:
    with pq.ParquetWriter(path, PARQUET_SCHEMA, compression="zstd") as writer:
        rows: list[dict[str, Any]] = []
        for record in records(count, seed):
            if record["tools"] is not None:
                record["tools"] = json.dumps(record["tools"], separators=(",", ":"))
            rows.append(record)
            if len(rows) == batch:
                writer.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help=".jsonl, .jsonl.gz or .parquet")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.out.suffix == ".parquet":
        write_parquet(args.out, args.count, args.seed)
    else:
        write_jsonl(args.out, args.count, args.seed)


if __name__ == "__main__":
    main()
