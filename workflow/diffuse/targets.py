"""Target construction: prompt + target through the model's own chat template, checked, as token ids.

No model-name special cases: the end-of-turn tokens are whatever the template writes after an assistant
message (trailing whitespace tokens dropped), and every target is tokenised in context (inside the full
chat encoding) so tokenizers that merge across the boundary are handled or reported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .tasks import Task, TaskError, check_text_targets, find_prefix_pair, target_texts, target_values


@dataclass
class EncodedTarget:
    value: str
    text: str
    weight: float
    ids: list[int]


@dataclass
class EncodedTask:
    task_id: str
    prompt_text: str
    prompt_ids: list[int]
    stop_ids: list[int]  # tokens that end a sampled row
    targets: list[EncodedTarget]

    @property
    def target_ids(self) -> list[list[int]]:
        return [t.ids for t in self.targets]

    @property
    def weights(self) -> list[float]:
        return [t.weight for t in self.targets]

    @property
    def values(self) -> list[str]:
        return [t.value for t in self.targets]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> EncodedTask:
        data = json.loads(Path(path).read_text())
        data["targets"] = [EncodedTarget(**t) for t in data["targets"]]
        return cls(**data)


def _render(tokenizer, messages, **kwargs) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def _tokenize(tokenizer, text: str) -> list[int]:
    # The rendered template already carries BOS and other specials.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


PROBE = "PROBEANSWER"


def assistant_separator(tokenizer, prompt: str, where: str = "") -> str:
    """What the template writes between the generation prompt and the assistant's content.

    Empty for most templates; Llama-2-chat writes ' ' (`' ' + content.strip() + ' ' + eos_token`) and
    adds nothing at the generation prompt, so the model itself writes that space.
    """
    user = [{"role": "user", "content": prompt}]
    generation = _render(tokenizer, user, add_generation_prompt=True)
    full = _render(tokenizer, user + [{"role": "assistant", "content": PROBE}])
    at = full.find(PROBE, len(generation)) if full.startswith(generation) else -1
    if at < 0 or full[len(generation) : at].strip():
        raise TaskError(
            f"{where}the chat template does not render the assistant turn as the generation prompt followed by "
            "the answer; check response_prefix and the template (one that opens a block at the generation "
            "prompt, such as Qwen3's think block, may need models.<name>.chat_template_variables)"
        )
    return full[len(generation) : at]


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """The token ids of a user prompt through the chat template, up to the generation prompt."""
    return conversation_ids(tokenizer, [{"role": "user", "content": prompt}])


def conversation_ids(tokenizer, messages: list[dict]) -> list[int]:
    """The token ids of a conversation (ending with a user turn) up to the assistant's generation prompt."""
    return _tokenize(tokenizer, _render(tokenizer, messages, add_generation_prompt=True))


def prompt_text(tokenizer, prompt: str, response_prefix: str = "") -> str:
    """The rendered prompt a sample continues: the generation prompt, then any forced response prefix."""
    user = [{"role": "user", "content": prompt}]
    generation = _render(tokenizer, user, add_generation_prompt=True)
    if not response_prefix:
        return generation
    # A forced prefix comes after whatever the template writes before the assistant's content.
    return generation + assistant_separator(tokenizer, prompt) + response_prefix


def _strip_trailing_whitespace(tokenizer, ids: list[int]) -> list[int]:
    special = set(tokenizer.all_special_ids)
    ids = list(ids)
    while ids and ids[-1] not in special and not tokenizer.decode([ids[-1]]).strip():
        ids.pop()
    return ids


def encode_target(
    tokenizer, task: Task, prompt_ids: list[int], rendered_prompt: str, text: str, separator: str
) -> list[int]:
    """Token ids of one target, in context; ends with the end-of-turn tokens when the task asks for them.

    `separator`: what the model writes before the answer (assistant_separator, or "" under a forced prefix).
    """
    user = [{"role": "user", "content": task.prompt}]
    content = task.response_prefix + text
    full = _render(tokenizer, user + [{"role": "assistant", "content": content}])
    where = f"{task.source}: task {task.id!r}: "
    # What the model writes after the rendered prompt: the template's separator (unless a forced prefix
    # already holds it), then the answer.
    answer = separator + text
    if not full.startswith(rendered_prompt + answer):
        raise TaskError(
            f"{where}the chat template does not render the assistant turn as the generation prompt followed by "
            f"the answer (target {text!r}); check response_prefix and the template"
        )

    def continuation(written: str) -> list[int]:
        """The tokens the model writes after the prompt to produce `written`."""
        joint = _tokenize(tokenizer, rendered_prompt + written)
        if joint[: len(prompt_ids)] == prompt_ids:
            return joint[len(prompt_ids) :]
        if task.response_prefix:
            raise TaskError(
                f"{where}the prompt tokens are not a prefix of the full chat encoding for target {text!r} "
                "(the tokenizer merges across the boundary); change response_prefix or target_format"
            )
        # The template's own boundary merges with the answer (Mistral v0.1: "]{" after "[/INST]" is one
        # token): encode the assistant's turn on its own, as the model's reference tokenizer does.
        return _tokenize(tokenizer, written)

    ids = continuation(full[len(rendered_prompt) :] if task.end_of_turn else answer)
    if task.end_of_turn:
        ids = _strip_trailing_whitespace(tokenizer, ids)
        if ids == continuation(answer):  # the template writes nothing after the answer: close it with EOS
            if tokenizer.eos_token_id is None:
                raise TaskError(f"task {task.id!r}: the template has no end of turn and the tokenizer no EOS")
            ids = ids + [tokenizer.eos_token_id]
    if not ids:
        raise TaskError(f"{task.source}: task {task.id!r}: target {text!r} encodes to no tokens")
    return ids


def end_of_turn_ids(tokenizer) -> list[int]:
    """The tokens that end an assistant turn under this tokenizer's chat template (and its EOS)."""
    probe = Task(id="probe/probe", source="the chat template", prompt="Hi", targets={"values": ["Hello"]})
    return encode_task(tokenizer, probe).stop_ids


def stop_token_ids(tokenizer, encoded_targets: list[list[int]], end_of_turn: bool) -> list[int]:
    """Tokens that end a sampled row: the template's end-of-turn token and the tokenizer's EOS."""
    stops = set()
    if tokenizer.eos_token_id is not None:
        stops.add(int(tokenizer.eos_token_id))
    if end_of_turn:
        stops.update(ids[-1] for ids in encoded_targets)
    return sorted(stops)


def encode_task(tokenizer, task: Task, values: list[str] | None = None, weights=None) -> EncodedTask:
    """Encode a task's prompt and targets and verify the target set is usable for Eq. 5."""
    if values is None:
        values, weights = target_values(task)
    texts = target_texts(task, values)
    check_text_targets(task, texts)
    rendered = prompt_text(tokenizer, task.prompt, task.response_prefix)
    prompt_ids = _tokenize(tokenizer, rendered)
    where = f"{task.source}: task {task.id!r}: "
    # What the template writes before the answer; a forced prefix already holds it.
    separator = "" if task.response_prefix else assistant_separator(tokenizer, task.prompt, where)
    ids = [encode_target(tokenizer, task, prompt_ids, rendered, text, separator) for text in texts]
    if len({tuple(i) for i in ids}) != len(ids):
        raise TaskError(f"{task.source}: task {task.id!r}: two targets encode to the same tokens")
    pair = find_prefix_pair([tuple(i) for i in ids])
    if pair:
        a, b = tokenizer.decode(list(pair[0])), tokenizer.decode(list(pair[1]))
        raise TaskError(
            f"{task.source}: task {task.id!r}: targets are not prefix-free as tokens ({a!r} / {b!r})"
        )
    targets = [
        EncodedTarget(value=v, text=t, weight=float(w), ids=i)
        for v, t, w, i in zip(values, texts, weights, ids, strict=True)
    ]
    return EncodedTask(
        task.id, rendered, prompt_ids, stop_token_ids(tokenizer, ids, task.end_of_turn), targets
    )
