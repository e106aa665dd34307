"""Detection rules as typed, frozen objects: metadata in the Sigma style, a condition as data.

A condition is a tree: a `Predicate` compares one feature with a constant; `AllOf` and
`AnyOf` combine conditions. Nothing in a rule is executed as code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, get_args

Status = Literal["experimental", "test", "stable"]
Level = Literal["low", "medium", "high", "critical"]
Scope = Literal["account", "cluster"]
Operator = Literal["gt", "gte", "lt", "lte", "eq", "ne"]
# Independent evidence families (DOMAIN.md): network infrastructure and account metadata
# (payment, sign-up) come from separate systems. A campaign alerts on several, never one.
Signal = Literal["volume", "template", "capability", "cot", "infrastructure", "metadata"]

STATUSES: tuple[str, ...] = get_args(Status)
LEVELS: tuple[str, ...] = get_args(Level)
SCOPES: tuple[str, ...] = get_args(Scope)
OPERATORS: tuple[str, ...] = get_args(Operator)
SIGNALS: tuple[str, ...] = get_args(Signal)
LEVEL_RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}

ATLAS_TECHNIQUE = "AML.T0024.002"
ATLAS_TAG = f"attack.{ATLAS_TECHNIQUE}"


@dataclass(frozen=True)
class Predicate:
    """`feature op value`, e.g. `cot_share gte 0.5`; false where the feature is null."""

    feature: str
    op: Operator
    value: float

    def features(self) -> frozenset[str]:
        return frozenset({self.feature})

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "op": self.op, "value": self.value}


@dataclass(frozen=True)
class AllOf:
    """True where every part is true."""

    parts: tuple[Condition, ...]

    def features(self) -> frozenset[str]:
        return frozenset().union(*(p.features() for p in self.parts))

    def to_dict(self) -> dict[str, Any]:
        return {"all": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True)
class AnyOf:
    """True where at least one part is true."""

    parts: tuple[Condition, ...]

    def features(self) -> frozenset[str]:
        return frozenset().union(*(p.features() for p in self.parts))

    def to_dict(self) -> dict[str, Any]:
        return {"any": [p.to_dict() for p in self.parts]}


Condition: TypeAlias = Predicate | AllOf | AnyOf


@dataclass(frozen=True)
class Fixtures:
    """Feature rows the rule must fire on (`positive`) and stay silent on (`negative`)."""

    positive: tuple[dict[str, float | None], ...]
    negative: tuple[dict[str, float | None], ...]


@dataclass(frozen=True)
class DetectionRule:
    """One detection rule, as loaded from one YAML file."""

    id: str
    title: str
    description: str
    status: Status
    level: Level
    scope: Scope
    signal: Signal
    condition: Condition
    tags: tuple[str, ...]
    falsepositives: tuple[str, ...]
    references: tuple[str, ...]
    fixtures: Fixtures
    author: str | None = None
    date: str | None = None
    source: str = field(default="", compare=False)

    def features(self) -> frozenset[str]:
        """Every feature the condition reads."""
        return self.condition.features()

    def to_dict(self) -> dict[str, Any]:
        """The rule as plain data, in the shape the YAML files use."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "status": self.status,
            "level": self.level,
            "scope": self.scope,
            "signal": self.signal,
            "tags": list(self.tags),
            "falsepositives": list(self.falsepositives),
            "references": list(self.references),
            "condition": self.condition.to_dict(),
            "fixtures": {
                "positive": [dict(f) for f in self.fixtures.positive],
                "negative": [dict(f) for f in self.fixtures.negative],
            },
        }
        if self.author is not None:
            data["author"] = self.author
        if self.date is not None:
            data["date"] = self.date
        return data
