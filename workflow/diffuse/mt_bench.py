"""MT-Bench (Zheng et al., 2023) with an LLM judge: the paper's utility check (Appendix C.4, Figure 6).

Optional, because it needs the network: the questions, the judge prompts and the reference answers come from
FastChat's `llm_judge/data` folder (a pinned release, or a local copy with the same layout), and the judge is
any OpenAI-compatible chat-completions endpoint (GPT-4 in the paper). The protocol follows FastChat's
single-answer grading: two turns per question, each model answers with the category's temperature, the
judge rates each turn 1-10 ("[[rating]]"), math/reasoning/coding are judged against a reference answer.
A judgment without a readable rating is kept and counted as invalid, never guessed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# pandas is imported where used: parsing the workflow imports this module (tests/test_parse_imports.py).
if TYPE_CHECKING:
    import pandas as pd


KEY = "experiments.biographies.mt_bench"
FASTCHAT_DATA = "https://raw.githubusercontent.com/lm-sys/FastChat/v0.2.36/fastchat/llm_judge/data"
# Paths inside FastChat's llm_judge/data folder.
DATA_FILES = {
    "questions": "mt_bench/question.jsonl",
    "references": "mt_bench/reference_answer/gpt-4.jsonl",
    "judge_prompts": "judge_prompts.jsonl",
}

# FastChat's answer temperatures per category, and the categories judged against a reference answer.
CATEGORY_TEMPERATURE = {
    "writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0,
    "coding": 0.0, "reasoning": 0.0, "stem": 0.1, "humanities": 0.1,
}  # fmt: skip
NEEDS_REFERENCE = {"math", "reasoning", "coding"}
RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
RATING_FALLBACK = re.compile(r"\[(\d+\.?\d*)\]")


class MTBenchError(RuntimeError):
    """A configuration or data problem, with the key or file to fix."""


@dataclass(frozen=True)
class Question:
    id: int
    category: str
    turns: tuple[str, str]
    reference: tuple[str, ...] = ()


def fetch(source: str, relative: str, destination: Path, timeout: float = 60.0) -> Path:
    """Copy `relative` from a URL prefix or a local folder (FastChat's data layout) to `destination`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    # One GET of a static file: the standard library suffices (no retry policy needed beyond rerunning).
    if source.startswith(("http://", "https://")):
        url = f"{source.rstrip('/')}/{relative}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                payload = response.read()
        except (urllib.error.URLError, TimeoutError) as error:
            raise MTBenchError(
                f"{KEY}.data: cannot download {url} ({error}); MT-Bench needs the network, or set "
                "data to a local copy of FastChat's fastchat/llm_judge/data folder"
            ) from None
    else:
        path = Path(source) / relative
        if not path.is_file():
            raise MTBenchError(
                f"{KEY}.data: {path} does not exist (expected FastChat's llm_judge/data layout)"
            )
        payload = path.read_bytes()
    destination.write_bytes(payload)
    return destination


def read_jsonl(path) -> list[dict]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise MTBenchError(f"{path}:{number}: not JSON ({error.msg})") from None
    return rows


def read_questions(path, references_path=None, limit: int | None = None) -> list[Question]:
    """MT-Bench questions (two turns each), with reference answers where the category needs one."""
    references = {}
    if references_path is not None and Path(references_path).is_file():
        for row in read_jsonl(references_path):
            references[row["question_id"]] = tuple(row["choices"][0]["turns"])
    rows = read_jsonl(path)
    questions = []
    for row in rows[:limit] if limit else rows:
        turns = row.get("turns", [])
        if len(turns) != 2 or "question_id" not in row or "category" not in row:
            raise MTBenchError(
                f"{path}: question {row.get('question_id')!r} needs question_id, category, 2 turns"
            )
        reference = references.get(row["question_id"], tuple(row.get("reference", ())))
        if row["category"] in NEEDS_REFERENCE and len(reference) < 2:
            raise MTBenchError(
                f"{path}: {row['category']} question {row['question_id']} has no reference answers"
            )
        questions.append(Question(int(row["question_id"]), row["category"], tuple(turns), tuple(reference)))
    return questions


def read_judge_prompts(path) -> dict[str, dict]:
    prompts = {row["name"]: row for row in read_jsonl(path)}
    missing = [name for name in _PROMPT_NAMES.values() if name not in prompts]
    if missing:
        raise MTBenchError(f"{path}: judge prompts {missing} are missing")
    return prompts


_PROMPT_NAMES = {
    (False, 1): "single-v1",
    (True, 1): "single-math-v1",
    (False, 2): "single-v1-multi-turn",
    (True, 2): "single-math-v1-multi-turn",
}


def judge_messages(prompts: dict, question: Question, answers: tuple[str, str], turn: int) -> list[dict]:
    """The judge's chat messages for one turn of one answered question (FastChat's single grading)."""
    with_reference = question.category in NEEDS_REFERENCE
    prompt = prompts[_PROMPT_NAMES[(with_reference, turn)]]
    fields = {}
    if turn == 1:
        fields.update(question=question.turns[0], answer=answers[0])
    else:
        fields.update(question_1=question.turns[0], question_2=question.turns[1])
        fields.update(answer_1=answers[0], answer_2=answers[1])
    if with_reference:
        fields.update(ref_answer_1=question.reference[0], ref_answer_2=question.reference[1])
    return [
        {"role": "system", "content": prompt["system_prompt"]},
        {"role": "user", "content": prompt["prompt_template"].format(**fields)},
    ]


def parse_rating(judgment: str) -> float | None:
    """The judge's 1-10 rating ("[[7]]", else "[7]"); None when absent or out of range."""
    for pattern in (RATING, RATING_FALLBACK):
        match = pattern.search(judgment)
        if match:
            rating = float(match.group(1))
            return rating if 1.0 <= rating <= 10.0 else None
    return None


class ChatJudge:
    """An OpenAI-compatible chat-completions endpoint through the `openai` client (its retries with
    exponential backoff on 408/409/429/5xx and connection errors, its timeout), called with temperature 0."""

    def __init__(self, spec: dict):
        import openai

        for required in ("base_url", "model"):
            if not spec.get(required):
                raise MTBenchError(f"{KEY}.judge.{required} is not set")
        self.url = spec["base_url"].rstrip("/")
        self.model = spec["model"]
        self.max_tokens = int(spec.get("max_tokens", 2048))
        # What makes two calls with the same messages the same judgment (the journal's key).
        self.identity = {"base_url": self.url, "model": self.model, "max_tokens": self.max_tokens}
        env = spec.get("api_key_env")
        api_key = os.environ.get(env) if env else None
        if env and not api_key:
            raise MTBenchError(f"{KEY}.judge.api_key_env: the environment variable {env} is not set")
        self.client = openai.OpenAI(
            base_url=self.url,
            # A local endpoint without authentication still needs some key for the client.
            api_key=api_key or "no-key",
            timeout=float(spec.get("timeout_s", 120)),
            max_retries=int(spec.get("retries", 5)),
        )

    def __call__(self, messages: list[dict]) -> str:
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, temperature=0, max_tokens=self.max_tokens
            )
        except openai.APIStatusError as error:
            raise MTBenchError(
                f"judge {self.url} answered HTTP {error.status_code}: {error.response.text[:300]!r}"
            ) from None
        except openai.APIConnectionError as error:  # also APITimeoutError
            raise MTBenchError(f"judge {self.url} unreachable: {error}") from None
        return response.choices[0].message.content or ""


def answer_questions(
    model, tokenizer, questions: list[Question], max_new_tokens: int, seed: int
) -> pd.DataFrame:
    """Both turns of every question, the second conditioned on the model's own first answer.

    Greedy where FastChat's temperature is 0, else ancestral sampling at that temperature with a per-question
    seed, so the same config gives the same answers.
    """
    from tqdm.auto import tqdm

    from .lm import sample_continuations
    from .targets import conversation_ids, end_of_turn_ids
    from .utility import greedy_answer

    stop_ids = end_of_turn_ids(tokenizer)
    rows = []
    for question in tqdm(questions, desc="MT-Bench answers", unit="question"):
        temperature = CATEGORY_TEMPERATURE.get(question.category, 0.7)
        messages = []
        for turn, text in enumerate(question.turns, start=1):
            messages.append({"role": "user", "content": text})
            prompt = conversation_ids(tokenizer, messages)
            if temperature == 0.0:
                ids = greedy_answer(model, prompt, max_new_tokens, stop_ids)
            else:
                [ids], _ = sample_continuations(
                    model, prompt, 1, seed + 1000 * question.id + turn, max_new_tokens, stop_ids, temperature
                )
            answer = tokenizer.decode(ids, skip_special_tokens=True).strip()
            messages.append({"role": "assistant", "content": answer})
            rows.append(
                {"question_id": question.id, "category": question.category, "turn": turn,
                 "temperature": temperature, "answer": answer, "answer_tokens": len(ids)}
            )  # fmt: skip
    import pandas as pd

    return pd.DataFrame(rows)


class JudgmentJournal:
    """Judgments appended to a JSONL file as they arrive (flushed and synced), so a crash or a killed job
    throws away no paid call: the next attempt reuses every entry whose key, a hash of the judge's identity
    and the exact messages, matches. A different judge or answer asks again."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by the crash
                self.entries[entry["key"]] = entry["judgment"]

    @staticmethod
    def key(judge, messages: list[dict]) -> str:
        identity = getattr(judge, "identity", type(judge).__name__)
        blob = json.dumps({"judge": identity, "messages": messages}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def judge(self, judge, messages: list[dict]) -> str:
        key = self.key(judge, messages)
        if key not in self.entries:
            judgment = judge(messages)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as handle:
                handle.write(json.dumps({"key": key, "judgment": judgment}) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self.entries[key] = judgment
        return self.entries[key]


def judge_answers(
    judge, prompts: dict, questions: list[Question], answers: pd.DataFrame, journal: str | Path | None = None
) -> pd.DataFrame:
    """One judgment per question and turn: the judge's text, its rating, and whether the rating parsed.
    With `journal`, every judgment is kept as it arrives and reused by a rerun (JudgmentJournal)."""
    from tqdm.auto import tqdm

    kept = JudgmentJournal(journal) if journal is not None else None

    by_question = {
        qid: group.sort_values("turn")["answer"].fillna("").tolist()
        for qid, group in answers.groupby("question_id")
    }
    rows = []
    for question in tqdm(questions, desc="MT-Bench judge", unit="question"):
        pair = tuple(by_question[question.id])
        for turn in (1, 2):
            messages = judge_messages(prompts, question, pair, turn)
            judgment = kept.judge(judge, messages) if kept else judge(messages)
            rating = parse_rating(judgment)
            rows.append(
                {"question_id": question.id, "category": question.category, "turn": turn,
                 "rating": rating, "valid": rating is not None, "judgment": judgment}
            )  # fmt: skip
    import pandas as pd

    return pd.DataFrame(rows)


def score_table(judgments: pd.DataFrame) -> pd.DataFrame:
    """MT-Bench score per model and adapter: mean valid rating per turn and overall, with the invalid count."""
    rows = []
    for (model, adapter), group in judgments.groupby(["model", "adapter"], sort=False):
        valid = group[group["valid"]]
        row = {
            "model": model,
            "adapter": adapter,
            "judged": len(group),
            "invalid": int((~group["valid"]).sum()),
        }
        row["turn_1"] = float(valid.loc[valid["turn"] == 1, "rating"].mean())
        row["turn_2"] = float(valid.loc[valid["turn"] == 2, "rating"].mean())
        row["score"] = float(valid["rating"].mean())
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows)


def category_scores(judgments: pd.DataFrame) -> pd.DataFrame:
    """Mean valid rating per model, adapter and category (the paper's Figure 6 breakdown)."""
    valid = judgments[judgments["valid"]]
    return valid.groupby(["model", "adapter", "category"], sort=False)["rating"].mean().reset_index()
