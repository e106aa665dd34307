"""Fragment ids of every text pool, and the content mixer that turns categories into prompts."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from detector.simulate import content
from detector.simulate.core import Tables
from detector.simulate.text import PromptLibrary

# Content categories of a request.
CHAT, CODE_CHAT, DIALOGUE, REASONING, AGENT = 0, 1, 2, 3, 4

CASUAL_COT_SUFFIXES = (
    " Think step by step.",
    "\n\nLet's think step by step.",
    " Please explain your reasoning.",
    " Can you walk me through it?",
)


@dataclass
class Pools:
    """Indices into `Tables.fragments` for each kind of text."""

    chat: np.ndarray
    chat_code: np.ndarray
    chat_other: np.ndarray
    dlg_prompt: np.ndarray
    dlg_hist: np.ndarray
    code_task: np.ndarray
    code_file: np.ndarray
    reasoning: np.ndarray
    agent_hist: np.ndarray
    agent_followup: np.ndarray
    casual_cot: np.ndarray
    coding_tools: np.ndarray
    coding_sys: np.ndarray
    generic_sys: np.ndarray
    assistant_tools: np.ndarray
    data_tools: int
    computer_tools: int


def agent_transcript(task: str, assistant: str, tool_output: str) -> str:
    """Earlier turns of an agent loop as the opening of a JSON messages array."""
    turns = [
        {"role": "user", "content": task},
        {"role": "assistant", "content": assistant},
        {"role": "tool", "content": tool_output},
    ]
    return "[" + ",".join(json.dumps(t, ensure_ascii=False) for t in turns) + ","


def build_pools(
    rng: np.random.Generator, tables: Tables, lib: PromptLibrary, n_transcripts: int
) -> Pools:
    frag = tables.fragments
    chat = frag.add_many(lib.chat)
    code_task = frag.add_many(lib.code_tasks)
    code_file = frag.add_many(lib.code_files)
    code_prompts = [t for t, c in zip(lib.chat, lib.chat_is_code, strict=True) if c]
    # Agent transcripts: a real coding task, an agent's step, and a real code file as tool output.
    tasks = lib.code_tasks + code_prompts
    hist = []
    for i in range(n_transcripts):
        task = tasks[int(rng.integers(0, len(tasks)))]
        file_text = lib.code_files[int(rng.integers(0, len(lib.code_files)))]
        tail = content.TOOL_OUTPUT_TAILS[i % len(content.TOOL_OUTPUT_TAILS)]
        step = content.AGENT_ASSISTANT_TURNS[
            int(rng.integers(0, len(content.AGENT_ASSISTANT_TURNS)))
        ]
        hist.append(agent_transcript(task, step, file_text + tail))
    return Pools(
        chat=chat,
        chat_code=chat[lib.chat_is_code],
        chat_other=chat[~lib.chat_is_code],
        dlg_prompt=frag.add_many(lib.dialogue_prompt),
        dlg_hist=frag.add_many(lib.dialogue_history),
        code_task=code_task,
        code_file=code_file,
        reasoning=frag.add_many(lib.reasoning),
        agent_hist=frag.add_many(hist),
        agent_followup=frag.add_many(list(content.AGENT_FOLLOW_UPS)),
        casual_cot=frag.add_many(list(CASUAL_COT_SUFFIXES)),
        coding_tools=frag.add_many([content.tools_json(t) for t in content.CODING_TOOLSETS]),
        coding_sys=frag.add_many(list(content.CODING_SYSTEM_PROMPTS)),
        generic_sys=frag.add_many(list(content.GENERIC_SYSTEM_PROMPTS)),
        assistant_tools=frag.add_many([content.tools_json(t) for t in content.ASSISTANT_TOOLSETS]),
        data_tools=frag.add(content.tools_json(content.DATA_TOOLSET)),
        computer_tools=frag.add(content.tools_json(content.COMPUTER_TOOLSET)),
    )


def pick(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.integers(0, len(pool), size=n)]


def compose(
    rng: np.random.Generator,
    pools: Pools,
    n: int,
    mix: tuple[float, float, float, float, float],
    *,
    cot_p: float = 0.05,
    sys_p: float = 0.1,
    assistant_tools_p: float = 0.0,
    agent_tools: np.ndarray | None = None,
    agent_sys: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Prompt columns for `n` benign requests with the given category mix.

    `mix` weights CHAT, CODE_CHAT, DIALOGUE, REASONING, AGENT. `agent_tools` / `agent_sys` give the
    tool set and system prompt of each row's agent product (rows of AGENT category use them).
    """
    p = np.asarray(mix, dtype=float)
    cat = rng.choice(5, size=n, p=p / p.sum())
    p0 = np.zeros(n, dtype=np.int32)
    p1 = pick(rng, pools.chat_other, n)
    p2 = np.zeros(n, dtype=np.int32)
    hist = np.full(n, -1, dtype=np.int32)
    tools = np.full(n, -1, dtype=np.int32)
    sys = np.where(rng.random(n) < sys_p, pick(rng, pools.generic_sys, n), -1).astype(np.int32)

    code = cat == CODE_CHAT
    p1[code] = pick(rng, pools.chat_code, int(code.sum()))
    dlg = cat == DIALOGUE
    d = rng.integers(0, len(pools.dlg_prompt), size=int(dlg.sum()))
    p1[dlg] = pools.dlg_prompt[d]
    hist[dlg] = pools.dlg_hist[d]
    rsn = cat == REASONING
    p1[rsn] = pick(rng, pools.reasoning, int(rsn.sum()))
    cot = (rsn | (cat == CHAT)) & (rng.random(n) < cot_p)
    p2[cot] = pick(rng, pools.casual_cot, int(cot.sum()))
    agent = cat == AGENT
    k = int(agent.sum())
    if k:
        hist[agent] = pick(rng, pools.agent_hist, k)
        p1[agent] = np.where(
            rng.random(k) < 0.6, pick(rng, pools.agent_followup, k), pick(rng, pools.chat_code, k)
        )
        tools[agent] = agent_tools[agent] if agent_tools is not None else pools.coding_tools[0]
        sys[agent] = agent_sys[agent] if agent_sys is not None else pools.coding_sys[0]
    if assistant_tools_p > 0:
        at = (cat == CHAT) & (rng.random(n) < assistant_tools_p)
        tools[at] = pick(rng, pools.assistant_tools, int(at.sum()))
    return {"sys": sys, "p0": p0, "p1": p1, "p2": p2, "hist": hist, "tools": tools}
