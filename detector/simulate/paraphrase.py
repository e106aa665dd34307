"""Paraphrased prompt templates: several phrasings per clause, synonym swaps, reordered clauses.

A template renders as `prefix + body + suffix`, where the body is real text (a task, a problem,
a code file) and the prefix and suffix come from one of many variants, so no single string or
exact hash identifies a campaign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_CHOICE = re.compile(r"\{([^{}]*\|[^{}]*)\}")
_NUMBER = re.compile(r"\{n:(\d+)-(\d+)\}")


@dataclass(frozen=True)
class Template:
    """Clauses of one extraction prompt; each clause is a list of alternative phrasings.

    `lead` clauses go before the body, `tail` clauses after it; `floating` clauses may land on
    either side, in any order. Phrasings use `{a|b|c}` for synonyms and `{n:3-9}` for numbers.
    """

    lead: tuple[tuple[str, ...], ...]
    tail: tuple[tuple[str, ...], ...] = ()
    floating: tuple[tuple[str, ...], ...] = ()
    body_intro: tuple[str, ...] = ("\n\n",)


def expand(rng: np.random.Generator, phrase: str) -> str:
    """Resolve synonym choices and number slots in one phrasing."""
    phrase = _NUMBER.sub(
        lambda m: str(int(rng.integers(int(m.group(1)), int(m.group(2)) + 1))), phrase
    )
    while True:
        new = _CHOICE.sub(lambda m: str(rng.choice(m.group(1).split("|"))), phrase)
        if new == phrase:
            return new
        phrase = new


def variants(rng: np.random.Generator, template: Template, k: int) -> list[tuple[str, str]]:
    """`k` distinct (prefix, suffix) renderings of the template."""
    out: dict[tuple[str, str], None] = {}
    tries = 0
    while len(out) < k and tries < k * 20:
        tries += 1
        lead = [expand(rng, str(rng.choice(c))) for c in template.lead]
        tail = [expand(rng, str(rng.choice(c))) for c in template.tail]
        for clause in template.floating:
            if rng.random() < 0.75:
                text = expand(rng, str(rng.choice(clause)))
                side = lead if rng.random() < 0.5 else tail
                side.insert(int(rng.integers(0, len(side) + 1)), text)
        if len(lead) > 2 and rng.random() < 0.4:  # reorder the middle of the instructions
            middle = lead[1:]
            rng.shuffle(middle)
            lead = [lead[0], *middle]
        joiner = " " if rng.random() < 0.6 else "\n"
        prefix = joiner.join(lead) + str(rng.choice(template.body_intro))
        suffix = ("\n\n" + joiner.join(tail)) if tail else ""
        out[(prefix, suffix)] = None
    return list(out)
