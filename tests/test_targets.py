"""Target construction through the real embedded tokenizer and chat template."""

import copy

import pytest

from diffuse.targets import EncodedTask, encode_task, prompt_text
from diffuse.tasks import Task, TaskError

RNG_PROMPT = (
    "Generate a random number between 1 and 10. Output only the number between two curly braces, "
    "like this: {number}. Don't output code."
)


def rng_task(**overrides):
    spec = dict(id="numbers/rng", source="numbers.yaml", prompt=RNG_PROMPT, targets={"range": [1, 10]})
    spec.update(overrides)
    return Task(**spec)


def test_rng_targets_end_with_the_templates_end_of_turn(tokenizer, tmp_path):
    encoded = encode_task(tokenizer, rng_task())
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert [t.value for t in encoded.targets] == [str(i) for i in range(1, 11)]
    for target in encoded.targets:
        assert target.ids[-1] == end_of_turn
        assert tokenizer.decode(target.ids) == "{" + target.value + "}<|im_end|>"
    assert end_of_turn in encoded.stop_ids
    # The prompt is the template's generation prompt, and prompt + target is the full chat encoding.
    full = tokenizer.apply_chat_template(
        [{"role": "user", "content": RNG_PROMPT}, {"role": "assistant", "content": "{7}"}], tokenize=False
    )
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    seven = encoded.targets[6]
    assert full_ids[: len(encoded.prompt_ids) + len(seven.ids)] == encoded.prompt_ids + seven.ids
    encoded.save(tmp_path / "rng.json")
    assert EncodedTask.load(tmp_path / "rng.json") == encoded


def test_template_without_end_of_turn_falls_back_to_eos(tokenizer):
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = (
        "{% for m in messages %}{% if m.role == 'user' %}User: {{ m.content }}\n{% else %}"
        "Assistant:\n{{ m.content }}{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:\n{% endif %}"
    )
    encoded = encode_task(plain, rng_task())
    assert all(t.ids[-1] == plain.eos_token_id for t in encoded.targets)
    assert plain.decode(encoded.prompt_ids).endswith("Assistant:\n")


def test_other_end_of_turn_marker_is_derived_from_the_template(tokenizer):
    # A template whose turns end with a different special token: nothing model-specific in the code.
    other = copy.deepcopy(tokenizer)
    other.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}:\n{{ m.content }}<|endoftext|>\n\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant:\n{% endif %}"
    )
    encoded = encode_task(other, rng_task())
    marker = other.convert_tokens_to_ids("<|endoftext|>")
    assert all(t.ids[-1] == marker for t in encoded.targets)
    assert marker in encoded.stop_ids


def test_response_prefix_is_part_of_the_prompt(tokenizer):
    encoded = encode_task(tokenizer, rng_task(response_prefix="Sure!\n"))
    assert encoded.prompt_text.endswith("<|im_start|>assistant\nSure!\n")
    assert tokenizer.decode(encoded.targets[0].ids) == "{1}<|im_end|>"


def test_response_prefix_that_merges_with_the_answer_is_reported(tokenizer):
    # "number: " + "{1}" tokenises as "number", ":", " {", ...: the prompt's trailing " " is not a token of it.
    with pytest.raises(TaskError, match=r"numbers\.yaml.*'numbers/rng'.*prompt tokens are not a prefix"):
        encode_task(tokenizer, rng_task(response_prefix="Here is a random number: "))


def test_prefix_free_checked_on_tokens_without_end_of_turn(tokenizer):
    # As strings {1} and {10} are prefix-free, but without braces and end-of-turn "1" prefixes "10".
    task = rng_task(target_format="{value}", end_of_turn=False)
    with pytest.raises(TaskError, match="not prefix-free"):
        encode_task(tokenizer, task)


def test_prompt_text_uses_the_generation_prompt(tokenizer):
    text = prompt_text(tokenizer, "Hi")
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_tokenizer_loaded_without_auto_classes_encodes_every_task_alike(
    tokenizer, model_dir, tmp_path, monkeypatch
):
    """load_tokenizer skips AutoTokenizer (and its torch import) for generic tokenizer classes; the
    encodings of every task must be those AutoTokenizer's tokenizer gives."""
    from conftest import REPO
    from transformers import AutoTokenizer

    from diffuse.ssa import natural_distribution, sample_names
    from diffuse.tasks import load_tasks

    reference = AutoTokenizer.from_pretrained(str(model_dir))
    assert type(tokenizer) is type(reference)
    # The BABYNAMES target files the ssa_names rule writes (biography targets come from a later rule).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(REPO / "data")
    (tmp_path / "results/data/ssa").mkdir(parents=True)
    natural = natural_distribution(2017)
    natural.to_csv("results/data/ssa/natural.csv", index=False)
    sample_names(natural, 200, 0).to_csv("results/data/ssa/sample.csv", index=False)
    tasks = {k: v for k, v in load_tasks(REPO / "config/tasks").items() if not k.startswith("biographies/")}
    assert len(tasks) >= 25
    for name, task in tasks.items():
        mine, theirs = encode_task(tokenizer, task), encode_task(reference, task)
        assert (mine.prompt_ids, mine.target_ids, mine.stop_ids) == (
            theirs.prompt_ids,
            theirs.target_ids,
            theirs.stop_ids,
        ), name
