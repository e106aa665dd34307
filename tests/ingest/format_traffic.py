"""The same requests written as canonical JSONL, OpenTelemetry spans (through the real SDK and
its OTLP JSON file exporter) and LiteLLM spend-log rows, for the format tests."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

BASE_MS = 1_772_366_400_000  # 2026-03-01T12:00:00Z


def traffic(count: int = 12) -> list[dict[str, Any]]:
    """Canonical requests with varied accounts, IPs, conversations and token counts."""
    records = []
    for i in range(count):
        stamp = datetime.fromtimestamp((BASE_MS + i * 1_234_567) / 1000, tz=UTC)
        records.append(
            {
                "request_id": f"chatcmpl-{i:04d}",
                "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "account_id": f"acct-{i % 4}",
                "client_ip": f"198.51.100.{10 + i % 5}" if i % 3 else f"2001:db8::{i:x}",
                "user_agent": "python-httpx/0.27",
                "model": "frontier-large" if i % 2 else "frontier-mini",
                "system_prompt": f"You are assistant #{i % 3}.",
                "prompt": f'Explain topic {i} step by step, with "quotes" and ünïcode.',
                "messages": [
                    {"role": "user", "content": f"Earlier question {i}"},
                    {"role": "assistant", "content": f"Earlier answer {i}"},
                    {
                        "role": "user",
                        "content": f'Explain topic {i} step by step, with "quotes" and ünïcode.',
                    },
                ],
                "input_tokens": 100 + i,
                "output_tokens": 2000 + 3 * i,
                "status_code": 200,
            }
        )
    return records


def write_canonical(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _nanos(record: dict[str, Any]) -> int:
    stamp = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    return int(stamp.timestamp() * 1000) * 1_000_000


def write_otel(
    path: Path,
    records: list[dict[str, Any]],
    *,
    deprecated: bool = False,
    account_attribute: str = "user.id",
    noise_spans: bool = True,
) -> Path:
    """Spans through the SDK's file exporter: one GenAI chat span per request (current or
    deprecated attribute names), plus an HTTP span and an embeddings span that must be skipped."""
    provider = TracerProvider(resource=Resource.create({"service.name": "llm-gateway"}))
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(path)))
    tracer = provider.get_tracer("gateway")
    for record in records:
        start = _nanos(record)
        with tracer.start_as_current_span(f"chat {record['model']}", start_time=start) as span:
            span.set_attribute("gen_ai.request.model", record["model"])
            span.set_attribute("gen_ai.response.id", record["request_id"])
            span.set_attribute(account_attribute, record["account_id"])
            span.set_attribute("client.address", record["client_ip"])
            span.set_attribute("user_agent.original", record["user_agent"])
            span.set_attribute("http.response.status_code", record["status_code"])
            if deprecated:
                span.set_attribute("gen_ai.system", "openai")
                span.set_attribute("gen_ai.usage.prompt_tokens", record["input_tokens"])
                span.set_attribute("gen_ai.usage.completion_tokens", record["output_tokens"])
                conversation = [
                    {"role": "system", "content": record["system_prompt"]},
                    *record["messages"],
                ]
                span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(conversation)})
            else:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.provider.name", "openai")
                span.set_attribute("gen_ai.usage.input_tokens", record["input_tokens"])
                span.set_attribute("gen_ai.usage.output_tokens", record["output_tokens"])
                span.set_attribute(
                    "gen_ai.system_instructions",
                    json.dumps([{"type": "text", "content": record["system_prompt"]}]),
                )
                span.set_attribute(
                    "gen_ai.input.messages",
                    json.dumps(
                        [
                            {
                                "role": m["role"],
                                "parts": [{"type": "text", "content": m["content"]}],
                            }
                            for m in record["messages"]
                        ]
                    ),
                )
        if noise_spans:
            with tracer.start_as_current_span("GET /health", start_time=start) as span:
                span.set_attribute("http.request.method", "GET")
            with tracer.start_as_current_span("embeddings", start_time=start) as span:
                span.set_attribute("gen_ai.operation.name", "embeddings")
                span.set_attribute("gen_ai.request.model", "embed-small")
    provider.shutdown()
    return path


def litellm_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`LiteLLM_SpendLogs` rows for the requests (times naive UTC, as LiteLLM stores them)."""
    rows = []
    for record in records:
        start = record["timestamp"].replace("Z", "")
        rows.append(
            {
                "request_id": record["request_id"],
                "call_type": "acompletion",
                "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
                "spend": 0.00042,
                "total_tokens": record["input_tokens"] + record["output_tokens"],
                "prompt_tokens": record["input_tokens"],
                "completion_tokens": record["output_tokens"],
                "startTime": start,
                "endTime": start,
                "completionStartTime": start,
                "model": record["model"],
                "model_group": record["model"],
                "custom_llm_provider": "openai",
                "api_base": "https://api.example.invalid/v1",
                "user": record["account_id"],
                "metadata": {"user_api_key_team_id": "team-1", "requester_ip_address": None},
                "cache_hit": "False",
                "cache_key": "",
                "request_tags": [],
                "team_id": "team-1",
                "end_user": "",
                "requester_ip_address": record["client_ip"],
                "messages": [
                    {"role": "system", "content": record["system_prompt"]},
                    *record["messages"],
                ],
                "response": {"id": record["request_id"], "object": "chat.completion"},
                "proxy_server_request": {"headers": {"user-agent": record["user_agent"]}},
                "status": "success",
            }
        )
    return rows


def write_litellm_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_litellm_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
            )
    return path
