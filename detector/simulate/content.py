"""Static text the simulator composes with real prompts: system prompts, tool sets, templates."""

from __future__ import annotations

import json

from detector.simulate.paraphrase import Template


def _tool(
    name: str, description: str, props: dict[str, tuple[str, str]], required: list[str]
) -> dict[str, object]:
    return {
        "name": name,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": {k: {"type": t, "description": d} for k, (t, d) in props.items()},
            "required": required,
        },
    }


CODING_TOOLSETS: tuple[list[dict[str, object]], ...] = (
    [
        _tool(
            "read_file",
            "Read a file from the workspace. Returns the file contents with line numbers.",
            {
                "path": ("string", "Path relative to the repository root"),
                "offset": ("integer", "First line to read"),
                "limit": ("integer", "Number of lines"),
            },
            ["path"],
        ),
        _tool(
            "write_file",
            "Create or overwrite a file in the workspace.",
            {
                "path": ("string", "Path relative to the repository root"),
                "content": ("string", "Full new content of the file"),
            },
            ["path", "content"],
        ),
        _tool(
            "edit_file",
            "Replace an exact string in a file with a new string.",
            {
                "path": ("string", "File to edit"),
                "old_string": ("string", "Text to replace"),
                "new_string": ("string", "Replacement text"),
            },
            ["path", "old_string", "new_string"],
        ),
        _tool(
            "bash",
            "Run a shell command in the project directory and return stdout, stderr and exit code.",
            {
                "command": ("string", "The command to run"),
                "timeout": ("integer", "Timeout in seconds"),
            },
            ["command"],
        ),
        _tool(
            "grep",
            "Search file contents with a regular expression.",
            {
                "pattern": ("string", "Regular expression"),
                "path": ("string", "Directory to search"),
                "glob": ("string", "Only files matching this glob"),
            },
            ["pattern"],
        ),
    ],
    [
        _tool(
            "view",
            "View the contents of a file or list a directory.",
            {"path": ("string", "Absolute path")},
            ["path"],
        ),
        _tool(
            "str_replace",
            "Edit a file by replacing one unique occurrence of a string.",
            {
                "path": ("string", "Absolute path"),
                "old_str": ("string", "Existing text"),
                "new_str": ("string", "New text"),
            },
            ["path", "old_str", "new_str"],
        ),
        _tool(
            "run_terminal_command",
            "Execute a command in the user's terminal.",
            {"command": ("string", "Command line"), "cwd": ("string", "Working directory")},
            ["command"],
        ),
        _tool(
            "list_files",
            "List files matching a glob pattern.",
            {"pattern": ("string", "Glob pattern, e.g. src/**/*.ts")},
            ["pattern"],
        ),
    ],
    [
        _tool(
            "shell",
            "Runs a shell command and returns its output.",
            {"cmd": ("string", "Command to run"), "workdir": ("string", "Working directory")},
            ["cmd"],
        ),
        _tool(
            "apply_patch",
            "Apply a unified diff to the working tree.",
            {"patch": ("string", "The patch in unified diff format")},
            ["patch"],
        ),
        _tool("read", "Read a file.", {"file": ("string", "Path of the file")}, ["file"]),
        _tool(
            "search",
            "Semantic code search over the repository.",
            {"query": ("string", "What to look for"), "max_results": ("integer", "Limit")},
            ["query"],
        ),
        _tool("web_fetch", "Fetch a URL and return its text.", {"url": ("string", "URL")}, ["url"]),
    ],
)

DATA_TOOLSET: list[dict[str, object]] = [
    _tool(
        "run_sql",
        "Run a read-only SQL query against the analytics warehouse.",
        {"query": ("string", "SQL query"), "limit": ("integer", "Maximum rows")},
        ["query"],
    ),
    _tool(
        "python",
        "Execute Python code in a Jupyter kernel with pandas and matplotlib.",
        {"code": ("string", "Python source")},
        ["code"],
    ),
    _tool(
        "describe_table",
        "Describe the columns of a warehouse table.",
        {"table": ("string", "Fully qualified table name")},
        ["table"],
    ),
]

COMPUTER_TOOLSET: list[dict[str, object]] = [
    _tool("screenshot", "Take a screenshot of the current screen.", {}, []),
    _tool(
        "click",
        "Click at screen coordinates.",
        {
            "x": ("integer", "Horizontal pixel"),
            "y": ("integer", "Vertical pixel"),
            "button": ("string", "left, right or middle"),
        },
        ["x", "y"],
    ),
    _tool(
        "type_text", "Type text with the keyboard.", {"text": ("string", "Text to type")}, ["text"]
    ),
    _tool(
        "key",
        "Press a key combination, e.g. ctrl+s.",
        {"keys": ("string", "Key combination")},
        ["keys"],
    ),
]

ASSISTANT_TOOLSETS: tuple[list[dict[str, object]], ...] = (
    [
        _tool(
            "get_weather",
            "Get the current weather for a city.",
            {"city": ("string", "City name"), "unit": ("string", "celsius or fahrenheit")},
            ["city"],
        ),
        _tool(
            "search_web",
            "Search the web and return the top results.",
            {"query": ("string", "Search query")},
            ["query"],
        ),
    ],
    [
        _tool(
            "create_calendar_event",
            "Create an event in the user's calendar.",
            {
                "title": ("string", "Event title"),
                "start": ("string", "ISO 8601 start time"),
                "duration_minutes": ("integer", "Length"),
            },
            ["title", "start"],
        ),
        _tool(
            "send_email",
            "Send an e-mail on the user's behalf.",
            {
                "to": ("string", "Recipient"),
                "subject": ("string", "Subject"),
                "body": ("string", "Body text"),
            },
            ["to", "subject", "body"],
        ),
    ],
)


def tools_json(tools: list[dict[str, object]]) -> str:
    return json.dumps(tools, separators=(",", ":"))


CODING_SYSTEM_PROMPTS: tuple[str, ...] = (
    "You are an interactive CLI tool that helps users with software engineering tasks. Use the "
    "instructions below and the tools available to you to assist the user.\n\n# Tone and style\nBe "
    "concise, direct, and to the point. When you run a non-trivial bash command, explain what the "
    "command does and why you are running it.\n\n# Following conventions\nWhen making changes to "
    "files, first understand the file's code conventions. Mimic code style, use existing libraries "
    "and utilities, and follow existing patterns. NEVER assume that a given library is available.\n\n"
    "# Doing tasks\n1. Use the search tools to understand the codebase and the user's query.\n2. "
    "Implement the solution using all tools available to you.\n3. Verify the solution with tests.",
    "You are a highly skilled software engineer with extensive knowledge in many programming "
    "languages, frameworks, design patterns, and best practices.\n\nTOOL USE\n\nYou have access to a "
    "set of tools that are executed upon the user's approval. You can use one tool per message, and "
    "will receive the result of that tool use in the user's response. You use tools step-by-step to "
    "accomplish a given task, with each tool use informed by the result of the previous tool use.\n\n"
    "RULES\n- Your current working directory is the project root.\n- Do not ask for more information "
    "than necessary. Use the tools provided to accomplish the user's request efficiently.",
    "You are a coding agent running in a terminal-based assistant. You are expected to be precise, "
    "safe, and helpful.\n\nYou can:\n- Receive user prompts, project context, and files.\n- Stream "
    "responses and emit function calls (e.g., shell commands, code edits).\n- Apply patches, run "
    "commands, and manage user approvals.\n\nWhen working on a task, keep going until the user's "
    "query is completely resolved. Only terminate your turn when you are sure that the problem is "
    "solved. Do not guess or make up an answer.",
)

AGENT_ASSISTANT_TURNS: tuple[str, ...] = (
    "I'll start by looking at the relevant file to understand the current implementation.",
    "Let me read the module first so I can see how this function is used.",
    "I'll search the codebase for where this is defined.",
    "Let me run the existing tests to see what is failing.",
    "I'll check the file and then make the change.",
    "First, let me inspect the project structure.",
)
AGENT_FOLLOW_UPS: tuple[str, ...] = (
    "ok now run the tests again",
    "that works, can you also add type hints?",
    "The test still fails with AssertionError on the edge case with an empty list. Fix it.",
    "Please also update the docstring and add a unit test for the new behaviour.",
    "looks good. commit it with a sensible message",
    "can you refactor this so the parsing happens in a separate function?",
    "Now make it handle None input gracefully.",
    "run the linter and fix whatever it complains about",
    "Why did you change the signature? Revert that part.",
    "Great. Next, apply the same fix in the other module.",
)
TOOL_OUTPUT_TAILS: tuple[str, ...] = (
    "\n\n$ pytest -q\n..F.\nFAILED tests/test_core.py::test_edge_case - AssertionError\n1 failed, 3 passed in 0.41s",
    "\n\n$ python -m pytest -x\n....\n4 passed in 0.22s",
    "\n\nExit code: 0",
    "\n\n$ ruff check .\nsrc/core.py:14:5: F841 Local variable `result` is assigned to but never used\nFound 1 error.",
    "",
)

GENERIC_SYSTEM_PROMPTS: tuple[str, ...] = (
    "You are a helpful assistant.",
    "You are a helpful, concise assistant. Answer in the user's language.",
    "You are a friendly customer support assistant for an online store. Be polite and brief.",
    "You are an expert writing assistant. Improve clarity and keep the author's voice.",
    "You are a tutor. Guide the student toward the answer instead of giving it away.",
    "You are a travel planning assistant. Ask clarifying questions when details are missing.",
)

# Enterprise batch jobs: one fixed template each, filled with customer text.
BATCH_JOBS: tuple[tuple[str, str, str], ...] = (
    (
        "You label customer support tickets for routing. Respond with JSON only.",
        "Classify the following support ticket into exactly one category from [billing, account_access, "
        "bug_report, feature_request, shipping, other] and rate its urgency from 1 to 5. Return "
        '{"category": ..., "urgency": ...}.\n\nTicket:\n"""\n',
        '\n"""',
    ),
    (
        "You extract structured data from documents. Output valid JSON matching the schema.",
        "Extract the following fields from the text below: product_names (list of strings), "
        "mentioned_companies (list of strings), sentiment (positive|neutral|negative), language "
        "(ISO 639-1). If a field is absent use an empty list or null.\n\nText:\n",
        "",
    ),
    (
        "You are a content moderation classifier. Answer with a single JSON object.",
        "Does the following user-generated message violate the community guidelines (harassment, spam, "
        'personal data, adult content)? Answer with {"violation": true|false, "policy": <name or '
        'null>, "confidence": <0-1>}.\n\nMessage:\n',
        "",
    ),
    (
        "Summarize documents for an internal knowledge base.",
        "Write a two-sentence summary of the following request for our knowledge base, then list up "
        "to three keywords.\n\n---\n",
        "\n---",
    ),
)

# Evaluation harness formats (public benchmark conventions).
EVAL_FORMATS: tuple[tuple[str, str], ...] = (
    ("Complete the following Python function. Return only the code.\n\n```python\n", "\n```"),
    ("", ""),  # raw HumanEval-style completion
    ("Question: ", "\nLet's think step by step."),
    (
        "Solve the following problem. Think step by step, then give the final answer after '####'.\n\n",
        "",
    ),
    ("", "\n\nAnswer:"),
)

PUBLIC_MAIL = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "hotmail.com",
    "proton.me",
    "qq.com",
    "163.com",
    "gmx.de",
    "web.de",
    "mail.ru",
    "naver.com",
)

# --- Campaign templates -------------------------------------------------------------------------

HYDRA_SYSTEM = Template(
    lead=(
        (
            "You are an autonomous {software engineering|coding} agent working inside a {repository|code base}.",
            "You are an expert {programmer|software engineer} operating as a tool-using agent.",
            "Act as a senior engineer with shell and file access to the user's project.",
        ),
        (
            "Use the {provided|available} tools to {inspect|explore} the code, {make|apply} changes and {run|execute} tests.",
            "Always {call|use} tools rather than guessing file contents.",
            "Work step by step with the tools until the task is {complete|done}.",
        ),
        (
            "Explain each tool call {briefly|in one sentence} before making it.",
            "When finished, summarize the {changes|edits} you made.",
            "Prefer small, {focused|minimal} edits and keep the existing style.",
        ),
    ),
    body_intro=("",),
)

HYDRA_TASK = Template(
    lead=(
        (
            "{Implement|Write|Complete} the function below{| in the repository} and make {sure|certain} the tests pass.",
            "Task: {finish|complete} the implementation of the following function.",
            "The following function is a stub. {Implement|Fill in} it {fully|completely}, then run the tests.",
            "Please {implement|write} this and {verify|check} it with the test suite.",
        ),
        (
            "Use the {tools|available tools} to {read|open} the file, {edit|modify} it and run {pytest|the tests}.",
            "Read the surrounding code first, then {edit|change} the file with the edit tool.",
            "Plan the change, apply it with a tool call, and run the {test suite|tests} afterwards.",
        ),
    ),
    tail=(
        (
            "{Show|Include} every tool call you make.",
            "Report the {final|resulting} diff when done.",
            "Finish with the test output.",
            "Summarize what you changed.",
        ),
    ),
    floating=(
        ("Do not ask {clarifying|follow-up} questions.", "Keep going until {all|the} tests pass."),
    ),
    body_intro=("\n\n", "\n\nFile: src/solution.py\n\n", "\n\n---\n"),
)

REASONING_COT = Template(
    lead=(
        (
            "{Solve|Work through|Answer} the following problem.",
            "Here is a {problem|question} for you.",
            "Consider the {task|problem} below.",
        ),
        (
            "{Show|Write out|Give} every intermediate step of your reasoning{| in full} before the final answer.",
            "Think through it {step by step|carefully, step by step}, and {write down|show} {all|each} of your reasoning.",
            "Reason {out loud|explicitly} and do not skip any step; {full|complete} reasoning is required.",
            "Put your {complete|full} chain of reasoning inside <{thinking|reasoning}> tags, then the answer.",
        ),
    ),
    tail=(
        (
            "Then {state|give} the final answer on its own line.",
            "End with 'Final answer:' followed by the result.",
            "After the reasoning, {give|write} the answer in one sentence.",
        ),
    ),
    floating=(
        (
            "{Explain|Justify} why each step follows from the previous one.",
            "Include at least {n:3-8} numbered steps.",
        ),
    ),
)

REASONING_RECONSTRUCT = Template(
    lead=(
        (
            "{Below|Here} is a {problem|question} {together with|and} its {correct|final} answer.",
            "I have the answer to the following {problem|question} but not the {derivation|working}.",
        ),
        (
            "Reconstruct the {complete|full|detailed} reasoning that leads to this answer{| step by step}.",
            "Write the {internal|hidden|full} reasoning process that {a careful solver|an expert} would go through to reach it.",
            "{Recreate|Rebuild} the {chain of thought|line of reasoning} behind the answer, with every intermediate step.",
        ),
    ),
    tail=(
        (
            "Answer: {see above|as given}. Do not change the final answer.",
            "The reasoning must {end at|arrive at} exactly this answer.",
            "Make the reasoning {natural|fluent}, as if you were solving it yourself.",
        ),
    ),
)

REASONING_RUBRIC = Template(
    lead=(
        (
            "You are {grading|evaluating|scoring} a {response|candidate answer} to the question below.",
            "Act as a {strict|careful} grader.",
            "Evaluate the {answer|response} that follows against the rubric.",
        ),
        (
            "Rubric: correctness ({n:3-5} points), {clarity|readability} ({n:1-3} points), completeness ({n:1-3} points).",
            "Score each criterion of the rubric {from 1 to 10|on a 1-10 scale} and justify each score.",
            "Use the rubric: accuracy, {reasoning quality|soundness of reasoning}, {helpfulness|usefulness}; give a score for each.",
        ),
    ),
    tail=(
        (
            "Return the scores as JSON with a short justification per criterion.",
            "Finish with an overall score {out of 10|between 0 and 10}.",
            "Then write an {improved|ideal} answer that would get full marks.",
        ),
    ),
)

REASONING_REWRITE = Template(
    lead=(
        (
            "Rewrite the answer below so that it is {suitable|appropriate} for {a general audience|publication} in a {sensitive|regulated} market.",
            "{Rephrase|Rewrite} the following {text|answer} in a {neutral|careful} way that avoids politically sensitive claims.",
        ),
        (
            "Keep the {facts|factual content} that are {uncontroversial|safe}, {soften|remove} the rest.",
            "Explain {briefly|in one line} what you changed and why.",
        ),
    ),
)

LOWSLOW_TASK = Template(
    lead=(
        (
            "{Can you|Could you|Please} {write|implement} this {for me|}?",
            "{I need|Need} {help with|a hand with} this function:",
            "{Help me|Can you help me} {finish|complete} this:",
            "{Write|Implement} the following{| function}:",
        ),
    ),
    tail=(
        (
            "{Also|And} {explain|walk me through} how it works.",
            "{Include|Add} a couple of test cases.",
            "{Explain|Describe} the {approach|solution} {briefly|in a few sentences}.",
            "Mention the time complexity.",
        ),
    ),
    body_intro=("\n\n", "\n", "\n\n\n"),
)

LOWSLOW_REASON = Template(
    lead=(
        (
            "{Quick|A} question:",
            "{Hey|Hi}, {can you|could you} {help with|solve} this?",
            "{Solve|Work out} this:",
        ),
    ),
    tail=(
        (
            "{Explain|Walk me through} how you {get|got} the answer.",
            "{Please|Pls} explain your {working|method}.",
            "How would you {approach|think about} it?",
        ),
    ),
    body_intro=(" ", "\n", "\n\n"),
)

TARGETED_TEMPLATES: dict[str, Template] = {
    "data_analysis": Template(
        lead=(
            (
                "You are {analysing|analyzing} the table described below.",
                "Given the {warehouse|database} schema below,",
            ),
            (
                "write the SQL {query|queries} that answer the question, then {explain|interpret} the result.",
                "produce {a pandas script|Python with pandas} that computes the answer and {describe|explain} the output.",
                "call the tools to {inspect|describe} the tables, query them and summarize the findings.",
            ),
        ),
        tail=(
            (
                "Question: which {customers|segments|regions} changed the most {month over month|week over week}?",
                "Question: what drives the {churn|drop} in {n:2-9}-day retention?",
                "Question: find {anomalies|outliers} in daily revenue.",
            ),
        ),
    ),
    "computer_use": Template(
        lead=(
            (
                "You control a {desktop|browser} through the tools.",
                "Operate the computer with the {screenshot|click|type} tools.",
            ),
            (
                "{Complete|Carry out} the following task {end to end|fully}, taking a screenshot after each action:",
                "Do the following, describing each action before {taking|executing} it:",
            ),
        ),
    ),
    "translation": Template(
        lead=(
            (
                "Translate the text below into {Chinese|Simplified Chinese}.",
                "Provide a {faithful|precise} {Simplified Chinese|Mandarin} translation of the following.",
            ),
            (
                "Then {translate|render} it back into English and {note|list} any differences.",
                "Keep technical terms and code unchanged.",
            ),
        ),
    ),
}

COMPUTER_TASKS: tuple[str, ...] = (
    "Open the spreadsheet in the Downloads folder, sort it by the 'amount' column and save it as a CSV.",
    "Log in to the admin panel, find the user with the most failed logins this week and lock the account.",
    "Fill the expense report form with the three receipts on the desktop and submit it.",
    "Find the cheapest flight from Berlin to Madrid next Friday on the airline website and take a screenshot.",
    "Rename every photo in the Pictures folder to its capture date.",
    "Open the project board, move every ticket labelled 'done' to the archive column.",
)
DATA_SCHEMAS: tuple[str, ...] = (
    "orders(order_id, customer_id, created_at, amount_usd, region, channel)\ncustomers(customer_id, signup_date, plan, country)",
    "events(user_id, event_name, ts, platform, app_version)\nusers(user_id, cohort_week, acquisition_source)",
    "invoices(invoice_id, account_id, issued_at, total, currency, status)\naccounts(account_id, segment, owner, region)",
    "sessions(session_id, user_id, started_at, duration_s, device)\npurchases(purchase_id, session_id, sku, price)",
)
