"""Target construction under the chat templates of the paper's three models.

Their tokenizers do not ship offline, so the templates (verbatim from each model's tokenizer_config.json on
the hub: meta-llama/Llama-2-13b-chat-hf, mistralai/Mistral-7B-Instruct-v0.1, google/gemma-7b-it) are set on
the embedded model's tokenizer; that exercises what differs between them, the text each template writes
around the answer, through the same generic code that runs on a cluster, with no per-model cases.
"""

import copy

import pytest

from diffuse.targets import assistant_separator, encode_task
from diffuse.tasks import Task, TaskError

LLAMA_2_CHAT = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
    "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)
MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
GEMMA_IT = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)


def with_template(tokenizer, template: str):
    other = copy.deepcopy(tokenizer)
    other.chat_template = template
    if other.bos_token is None:
        other.bos_token = "<|endoftext|>"
    return other


def rng_task(**overrides) -> Task:
    fields = {
        "id": "numbers/rng", "source": "numbers.yaml", "targets": {"range": [1, 10]},
        "prompt": "Generate a random number between 1 and 10. Output only the number between two curly braces.",
    }  # fmt: skip
    fields.update(overrides)
    return Task(**fields)


@pytest.mark.parametrize(
    ("template", "separator", "prompt_end", "answer"),
    [
        (LLAMA_2_CHAT, " ", " [/INST]", " {7} <|im_end|>"),
        (MISTRAL_V01, "", " [/INST]", "{7}<|im_end|>"),
        (GEMMA_IT, "", "<start_of_turn>model\n", "{7}<end_of_turn>"),
    ],
    ids=["llama-2-chat", "mistral-v0.1", "gemma-it"],
)
def test_targets_follow_each_template(tokenizer, template, separator, prompt_end, answer):
    other = with_template(tokenizer, template)
    task = rng_task()
    assert assistant_separator(other, task.prompt) == separator
    encoded = encode_task(other, task)
    assert encoded.prompt_text.endswith(prompt_end)
    seven = encoded.targets[encoded.values.index("7")]
    # The model writes the template's separator, the answer and the template's end of turn; trailing
    # whitespace after it (Mistral's ' ', Gemma's '\n') is not part of the target.
    assert other.decode(seven.ids) == answer
    assert len({tuple(t.ids) for t in encoded.targets}) == 10
    # Llama-2 and Mistral end a turn with EOS; Gemma with its own marker, whose last token becomes a stop.
    assert seven.ids[-1] in encoded.stop_ids


def test_gemma_rejects_a_system_turn_and_we_never_send_one(tokenizer):
    other = with_template(tokenizer, GEMMA_IT)
    with pytest.raises(Exception, match="System role not supported"):
        other.apply_chat_template([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])
    encode_task(other, rng_task())


def test_forced_prefix_goes_after_the_separator(tokenizer):
    other = with_template(tokenizer, LLAMA_2_CHAT)
    encoded = encode_task(other, rng_task(response_prefix="Sure!\n"))
    assert encoded.prompt_text.endswith(" [/INST] Sure!\n")
    assert other.decode(encoded.targets[0].ids) == "{1} <|im_end|>"


@pytest.fixture(scope="module")
def mistral_tokenizer(tmp_path_factory):
    """Mistral-7B-Instruct-v0.1's real tokenizer: its SentencePiece model (v1) ships in mistral-common."""
    import os
    import shutil
    from pathlib import Path

    try:
        import mistral_common
    except ImportError:
        if os.environ.get("DIFFUSE_REQUIRE_VLLM"):
            pytest.fail("mistral-common (installed with the vllm backend) is missing")
        pytest.skip("mistral-common is not installed (make setup-vllm installs it)")
    from transformers import LlamaTokenizer

    folder = tmp_path_factory.mktemp("mistral")
    shutil.copy(
        Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1", folder / "tokenizer.model"
    )
    tokenizer = LlamaTokenizer.from_pretrained(str(folder))
    tokenizer.chat_template = MISTRAL_V01
    return tokenizer


def test_mistral_boundary_merge_uses_the_turns_own_encoding(mistral_tokenizer):
    # With the real tokenizer "[/INST]{7}" tokenises "]{": the joint encoding breaks the prompt's tokens, so
    # the answer is encoded as its own turn ("▁{", "7", "}", "</s>"), as mistral-common does.
    tok = mistral_tokenizer
    joint = tok.convert_ids_to_tokens(tok("[/INST]{7}", add_special_tokens=False)["input_ids"])
    assert "]{" in joint
    encoded = encode_task(tok, rng_task())
    assert tok.convert_ids_to_tokens(encoded.prompt_ids)[-4:] == ["▁[", "/", "INST", "]"]
    seven = encoded.targets[encoded.values.index("7")]
    assert tok.convert_ids_to_tokens(seven.ids) == ["▁{", "7", "}", "</s>"]
    assert encoded.stop_ids == [tok.eos_token_id]
    # "{1}" and "{10}" stay prefix-free as tokens thanks to the closing brace and EOS.
    assert len({tuple(t.ids) for t in encoded.targets}) == 10


# The parts of Qwen3's template that enable_thinking touches: its final assistant turn always carries a
# think block (empty without reasoning), its generation prompt only when enable_thinking is false.
QWEN3_REDUCED = (
    "{%- for message in messages %}{%- if message.role == 'user' %}"
    "{{- '<|im_start|>user\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + message.content.lstrip('\\n') }}"
    "{{- '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n"
    "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
    "        {{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}\n{%- endif %}"
)


def test_pinned_enable_thinking_makes_the_answer_follow_the_empty_think_block(tokenizer):
    from diffuse.models import pin_template_variables

    unpinned = with_template(tokenizer, QWEN3_REDUCED)
    task = rng_task()
    # Unpinned, the answer turn holds a think block the generation prompt lacks: a clear error, not targets
    # that make the model write the block itself.
    with pytest.raises(TaskError, match="chat_template_variables"):
        assistant_separator(unpinned, task.prompt)
    pinned = with_template(tokenizer, QWEN3_REDUCED)
    pin_template_variables(pinned, {"enable_thinking": False}, "qwen3")
    assert assistant_separator(pinned, task.prompt) == ""
    encoded = encode_task(pinned, task)
    assert encoded.prompt_text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert pinned.decode(encoded.targets[encoded.values.index("7")].ids) == "{7}<|im_end|>"
    # Pinned means pinned: a value passed at render time does not reopen thinking.
    messages = [{"role": "user", "content": "hi"}]
    again = pinned.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=True
    )
    assert again.endswith("<think>\n\n</think>\n\n")


def test_pinning_needs_a_single_template(tokenizer):
    from diffuse.models import pin_template_variables

    other = copy.deepcopy(tokenizer)
    other.chat_template = {"default": QWEN3_REDUCED, "tool_use": QWEN3_REDUCED}
    with pytest.raises(ValueError, match="chat_template_variables needs a single chat template"):
        pin_template_variables(other, {"enable_thinking": False}, "qwen3")
