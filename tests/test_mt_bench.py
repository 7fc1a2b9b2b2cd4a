"""MT-Bench: FastChat-format data, judge prompts, rating parsing, the HTTP judge client, answers, the DAG.

The judge is an external service (GPT-4 in the paper), so tests talk to a local HTTP server that speaks the
OpenAI chat-completions protocol strictly (path, method, JSON body, bearer key) and rates deterministically.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from conftest import SMOKE, run_snakemake

from diffuse.mt_bench import (
    DATA_FILES,
    ChatJudge,
    MTBenchError,
    Question,
    answer_questions,
    fetch,
    judge_answers,
    judge_messages,
    parse_rating,
    read_judge_prompts,
    read_questions,
    score_table,
)

KEY_ENV = "DIFFUSE_TEST_JUDGE_KEY"
QUESTIONS = [
    {"question_id": 81, "category": "writing", "turns": ["Write a haiku about rain.", "Now make it rhyme."]},
    {"question_id": 111, "category": "math", "turns": ["What is 2 + 3?", "And times 4?"]},
]
REFERENCES = [{"question_id": 111, "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["5", "20"]}]}]
# FastChat's four single-grading prompt names and placeholders, with short wording of our own.
JUDGE_PROMPTS = [
    {"name": "single-v1", "type": "single", "system_prompt": "Judge.",
     "prompt_template": "[Question]\n{question}\n[Answer]\n{answer}", "output_format": "[[rating]]"},
    {"name": "single-math-v1", "type": "single", "system_prompt": "Judge with the reference.",
     "prompt_template": "[Question]\n{question}\n[Reference]\n{ref_answer_1}\n[Answer]\n{answer}",
     "output_format": "[[rating]]"},
    {"name": "single-v1-multi-turn", "type": "single", "system_prompt": "Judge the second answer.",
     "prompt_template": "### User:\n{question_1}\n### A:\n{answer_1}\n### User:\n{question_2}\n### A:\n{answer_2}",
     "output_format": "[[rating]]"},
    {"name": "single-math-v1-multi-turn", "type": "single", "system_prompt": "Judge the second answer with refs.",
     "prompt_template": "Ref: {ref_answer_1} | {ref_answer_2}\n### User:\n{question_1}\n### A:\n{answer_1}\n"
     "### User:\n{question_2}\n### A:\n{answer_2}", "output_format": "[[rating]]"},
]  # fmt: skip


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def fastchat_data(tmp_path) -> Path:
    """A folder with FastChat's llm_judge/data layout."""
    root = tmp_path / "fastchat"
    write_jsonl(root / DATA_FILES["questions"], QUESTIONS)
    write_jsonl(root / DATA_FILES["references"], REFERENCES)
    write_jsonl(root / DATA_FILES["judge_prompts"], JUDGE_PROMPTS)
    return root


class JudgeServer:
    """A local OpenAI-compatible endpoint: every `unrated_every`-th reply has no rating; `fail_first` 429s."""

    def __init__(
        self, key: str = "secret", unrated_every: int = 0, fail_first: int = 0, files: Path | None = None
    ):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.key, self.unrated_every, self.fail_first, self.files = key, unrated_every, fail_first, files
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # static files, for downloading FastChat's data over HTTP
                path = server.files / self.path.lstrip("/") if server.files else None
                if path is None or not path.is_file():
                    self.send_error(404)
                    return
                self._reply(200, path.read_bytes(), "application/octet-stream")

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                if self.headers.get("Authorization") != f"Bearer {server.key}":
                    self._reply(401, b'{"error": "bad key"}')
                    return
                if server.fail_first > 0:
                    server.fail_first -= 1
                    self._reply(429, b'{"error": "slow down"}')
                    return
                assert body["temperature"] == 0 and body["messages"][0]["role"] == "system", body
                with server.lock:
                    server.requests.append(body)
                    n = len(server.requests)
                unrated = server.unrated_every and n % server.unrated_every == 0
                text = "I will not rate this." if unrated else f"Fine answer. Rating: [[{1 + n % 10}]]"
                payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
                self._reply(200, json.dumps(payload).encode())

            def _reply(self, code, payload: bytes, kind="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def judge_server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "secret")
    servers = []

    def start(**kwargs):
        servers.append(JudgeServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def judge_spec(server, **extra) -> dict:
    return {
        "base_url": f"{server.url}/v1",
        "model": "judge-model",
        "api_key_env": KEY_ENV,
        **extra,
    }


@pytest.mark.parametrize(
    ("text", "rating"),
    [("Rating: [[7]]", 7.0), ("so [[8.5]] it is", 8.5), ("Rating: [9]", 9.0), ("[[10]] then [[2]]", 10.0),
     ("Rating: [[11]]", None), ("[[0]]", None), ("no rating here", None), ("", None)],
)  # fmt: skip
def test_parse_rating(text, rating):
    assert parse_rating(text) == rating


def test_questions_and_references(fastchat_data):
    questions = read_questions(
        fastchat_data / DATA_FILES["questions"], fastchat_data / DATA_FILES["references"]
    )
    assert [q.id for q in questions] == [81, 111]
    assert questions[1].reference == ("5", "20") and questions[0].reference == ()
    assert len(read_questions(fastchat_data / DATA_FILES["questions"], None, limit=1)) == 1
    # A math question cannot be judged without its reference answers.
    with pytest.raises(MTBenchError, match="math question 111 has no reference"):
        read_questions(fastchat_data / DATA_FILES["questions"], fastchat_data / "missing.jsonl")
    bad = write_jsonl(
        fastchat_data / "bad.jsonl", [{"question_id": 1, "category": "writing", "turns": ["one"]}]
    )
    with pytest.raises(MTBenchError, match="2 turns"):
        read_questions(bad)


def test_judge_messages_fill_the_prompt_of_each_case(fastchat_data):
    prompts = read_judge_prompts(fastchat_data / DATA_FILES["judge_prompts"])
    writing = Question(81, "writing", ("Q1", "Q2"))
    math = Question(111, "math", ("M1", "M2"), ("R1", "R2"))
    first = judge_messages(prompts, writing, ("A1", "A2"), 1)
    assert first[0] == {"role": "system", "content": "Judge."}
    assert first[1]["content"] == "[Question]\nQ1\n[Answer]\nA1"
    second = judge_messages(prompts, math, ("B1", "B2"), 2)
    assert second[0]["content"] == "Judge the second answer with refs."
    assert second[1]["content"].startswith("Ref: R1 | R2") and "M2\n### A:\nB2" in second[1]["content"]
    write_jsonl(fastchat_data / "few.jsonl", JUDGE_PROMPTS[:2])
    with pytest.raises(MTBenchError, match="single-v1-multi-turn"):
        read_judge_prompts(fastchat_data / "few.jsonl")


def test_judge_client_retries_and_authenticates(judge_server, monkeypatch):
    server = judge_server(fail_first=2)
    judge = ChatJudge(judge_spec(server))
    assert parse_rating(judge([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])) == 2.0
    assert server.requests[0]["model"] == "judge-model" and server.requests[0]["max_tokens"] == 2048
    # Out of retries, a wrong key, or no key at all: errors that say what failed.
    with pytest.raises(MTBenchError, match="HTTP 429"):
        ChatJudge(judge_spec(judge_server(fail_first=5), retries=1))([{"role": "system", "content": "s"}])
    monkeypatch.setenv(KEY_ENV, "wrong")
    with pytest.raises(MTBenchError, match="HTTP 401"):
        ChatJudge(judge_spec(server))([{"role": "system", "content": "s"}])
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(MTBenchError, match=f"{KEY_ENV} is not set"):
        ChatJudge(judge_spec(server))
    with pytest.raises(MTBenchError, match="judge.model is not set"):
        ChatJudge({"base_url": server.url})


def test_fetch_from_a_folder_or_a_url(fastchat_data, tmp_path, judge_server):
    local = fetch(str(fastchat_data), DATA_FILES["questions"], tmp_path / "a" / "q.jsonl")
    server = judge_server(files=fastchat_data)
    remote = fetch(server.url, DATA_FILES["questions"], tmp_path / "b" / "q.jsonl")
    assert local.read_text() == remote.read_text() == (fastchat_data / DATA_FILES["questions"]).read_text()
    with pytest.raises(MTBenchError, match="mt_bench.data: .* does not exist"):
        fetch(str(tmp_path / "nowhere"), DATA_FILES["questions"], tmp_path / "c.jsonl")
    with pytest.raises(MTBenchError, match="cannot download"):
        fetch(server.url + "/nowhere", DATA_FILES["questions"], tmp_path / "d.jsonl")


def test_answers_are_two_turns_and_seeded(model, tokenizer, fastchat_data):
    questions = read_questions(
        fastchat_data / DATA_FILES["questions"], fastchat_data / DATA_FILES["references"]
    )
    answers = answer_questions(model, tokenizer, questions, max_new_tokens=12, seed=3)
    assert list(answers["turn"]) == [1, 2, 1, 2]
    assert list(answers["temperature"]) == [0.7, 0.7, 0.0, 0.0]  # FastChat's: writing sampled, math greedy
    assert (answers["answer_tokens"] > 0).all() and (answers["answer_tokens"] <= 12).all()
    pd.testing.assert_frame_equal(answers, answer_questions(model, tokenizer, questions, 12, seed=3))


def test_judging_counts_unrated_answers_as_invalid(judge_server, fastchat_data):
    server = judge_server(unrated_every=3)
    questions = read_questions(
        fastchat_data / DATA_FILES["questions"], fastchat_data / DATA_FILES["references"]
    )
    answers = pd.DataFrame(
        {"question_id": [81, 81, 111, 111], "turn": [1, 2, 1, 2], "answer": ["a", "b", "5", "20"]}
    )
    prompts = read_judge_prompts(fastchat_data / DATA_FILES["judge_prompts"])
    judgments = judge_answers(ChatJudge(judge_spec(server)), prompts, questions, answers)
    assert list(judgments["valid"]) == [True, True, False, True]
    assert list(judgments["rating"].iloc[[0, 1, 3]]) == [2.0, 3.0, 5.0]
    assert "[Reference]\n5" in server.requests[2]["messages"][1]["content"]  # math turn 1 gets its reference
    judgments.insert(0, "model", "m")
    judgments.insert(1, "adapter", "base")
    [row] = score_table(judgments).to_dict("records")
    assert (row["judged"], row["invalid"], row["turn_1"], row["turn_2"]) == (4, 1, 2.0, 4.0)
    assert row["score"] == pytest.approx(10 / 3)


def test_mt_bench_is_skipped_with_a_message_without_a_judge(smoke_run):
    result = run_snakemake(smoke_run, "-n", *SMOKE)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "MT-Bench skipped: no judge configured (experiments.biographies.mt_bench.judge)" in output
    assert "mt_bench_answers" not in output
    asked = run_snakemake(smoke_run, "-n", "results/tables/mt_bench.csv", *SMOKE)
    assert asked.returncode != 0 and "MT-Bench needs a judge" in asked.stdout + asked.stderr


def test_mt_bench_in_the_dag(smoke_run, tmp_path, fastchat_data, judge_server):
    """The untuned model, Tuned-OOD and Tuned-ID of the smoke run answer two questions; the judge rates them over HTTP."""
    server = judge_server(unrated_every=5, files=fastchat_data)
    tree = tmp_path / "tree"
    shutil.copytree(smoke_run, tree, symlinks=True)
    extra = tmp_path / "mt_bench.yaml"
    spec = {"judge": judge_spec(server), "data": server.url, "max_new_tokens": 6, "limit": 2}
    extra.write_text(json.dumps({"experiments": {"biographies": {"mt_bench": spec}}}))
    result = run_snakemake(
        tree, "results/tables/mt_bench.csv", *SMOKE, str(extra), "--rerun-triggers", "mtime"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "MT-Bench skipped" not in result.stdout + result.stderr
    scores = pd.read_csv(tree / "results/tables/mt_bench.csv")
    assert list(scores["condition"]) == ["untuned", "OOD", "ID"]
    assert scores["judged"].sum() == 12 == len(server.requests)
    assert scores["invalid"].sum() == 2  # the 5th and 10th replies carry no rating
    assert scores["score"].between(1, 10).all()
    plotted = pd.read_csv(tree / "results/figures/figure6_mt_bench.csv", keep_default_na=False)
    assert (plotted["kind"] == "bar").any()
    answers = pd.read_csv(tree / "results/mt_bench/smollm2-135m/base/answers.csv")
    assert list(answers["question_id"]) == [81, 81, 111, 111]


def test_a_crashed_judging_run_keeps_what_it_paid_for(judge_server, fastchat_data, tmp_path):
    server = judge_server()
    questions = read_questions(
        fastchat_data / DATA_FILES["questions"], fastchat_data / DATA_FILES["references"]
    )
    answers = pd.DataFrame(
        {"question_id": [81, 81, 111, 111], "turn": [1, 2, 1, 2], "answer": ["a", "b", "5", "20"]}
    )
    prompts = read_judge_prompts(fastchat_data / DATA_FILES["judge_prompts"])
    journal = tmp_path / "judgments.journal.jsonl"
    judge = ChatJudge(judge_spec(server))

    class Crashing:
        identity = judge.identity
        calls = 0

        def __call__(self, messages):
            if self.calls == 3:
                raise KeyboardInterrupt("killed after three paid calls")
            self.calls += 1
            return judge(messages)

    with pytest.raises(KeyboardInterrupt):
        judge_answers(Crashing(), prompts, questions, answers, journal=journal)
    assert len(server.requests) == 3 and len(journal.read_text().splitlines()) == 3
    with open(journal, "a") as handle:
        handle.write('{"key": "cut sho')  # the crash may cut the last line short
    resumed = judge_answers(judge, prompts, questions, answers, journal=journal)
    assert len(server.requests) == 4  # only the fourth turn was asked again
    # The same table as an uninterrupted run against a fresh server (its replies depend on the call count).
    fresh = judge_answers(ChatJudge(judge_spec(judge_server())), prompts, questions, answers)
    assert resumed.equals(fresh)
    # Another judge model shares nothing with this journal.
    other = ChatJudge({**judge_spec(server), "model": "another-judge"})
    judge_answers(other, prompts, questions, answers, journal=journal)
    assert len(server.requests) == 4 + 4
