"""Model sources: hub ids are downloaded with a clear error when that cannot work; GPU placement."""

import pytest

from diffuse.models import (
    ModelDownloadError,
    cpu_flags,
    download_hub_model,
    is_hub_id,
    slow_half_precision_warning,
)


def test_sources_are_told_apart(tmp_path):
    assert is_hub_id("mistralai/Mistral-7B-Instruct-v0.1")
    assert not is_hub_id("embedded:smollm2-135m-instruct")
    folder = tmp_path / "org" / "model"
    folder.mkdir(parents=True)
    assert not is_hub_id(str(folder)) and not is_hub_id("just-a-name")


def test_gated_download_without_network_or_token_says_why(tmp_path, monkeypatch):
    # Offline (this machine, CI) the hub is unreachable; online without a token Llama-2 is gated.
    # Either way the error says what to do, and nothing but metadata is written.
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(ModelDownloadError, match=r"no network|gated|no access") as error:
        download_hub_model("meta-llama/Llama-2-13b-chat-hf", tmp_path / "llama")
    assert "meta-llama/Llama-2-13b-chat-hf" in str(error.value)
    assert not list((tmp_path).rglob("*.safetensors"))


def test_a_model_without_template_variables_keeps_its_plain_source_param():
    # The rule's params of models materialised before chat_template_variables existed stay as they were,
    # so adding the key reruns nothing; a model that sets it gets both in its params.
    from diffuse.settings import materialise_source, unpack_materialise_source

    plain = {"source": "embedded:smollm2-135m-instruct"}
    assert materialise_source(plain) == "embedded:smollm2-135m-instruct"
    assert materialise_source({**plain, "chat_template_variables": {}}) == plain["source"]
    pinned = {"source": "Qwen/Qwen3-4B", "chat_template_variables": {"enable_thinking": False}}
    assert unpack_materialise_source(materialise_source(pinned)) == (
        "Qwen/Qwen3-4B",
        {"enable_thinking": False},
    )
    assert unpack_materialise_source("Qwen/Qwen3-4B") == ("Qwen/Qwen3-4B", {})


def test_half_precision_on_a_cpu_without_bf16_units_is_warned_about():
    epyc = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n"
    sapphire = "flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    assert cpu_flags(epyc) == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert cpu_flags("no flags here") is None
    warning = slow_half_precision_warning("bfloat16", "cpu", cpu_flags(epyc))
    assert warning and "bfloat16" in warning and "float32" in warning
    assert slow_half_precision_warning("float16", "cpu", cpu_flags(epyc))
    assert slow_half_precision_warning("bfloat16", "cpu", cpu_flags(sapphire)) is None
    assert slow_half_precision_warning("float32", "cpu", cpu_flags(epyc)) is None
    assert slow_half_precision_warning("bfloat16", "cuda", cpu_flags(epyc)) is None
    assert slow_half_precision_warning("bfloat16", "cpu", None) is None  # flags unknown: no guess


def test_parsing_the_gguf_once_writes_the_same_folder(model_dir, tmp_path, monkeypatch):
    """The embedded model materialised with gguf's reader and name map cached (model_dir, the default)
    is byte-identical to one materialised without the cache, and the cache ends with the block."""
    import contextlib
    import filecmp

    import gguf

    import diffuse.models as models

    reader = gguf.GGUFReader
    with models._gguf_parsed_once():
        path = str(models.embedded_gguf_path("embedded:smollm2-135m-instruct"))
        assert gguf.GGUFReader(path) is gguf.GGUFReader(path)
    assert gguf.GGUFReader is reader
    monkeypatch.setattr(models, "_gguf_parsed_once", contextlib.nullcontext)
    models.materialise_model("embedded:smollm2-135m-instruct", tmp_path / "plain")
    files = sorted(p.name for p in model_dir.iterdir())
    assert files == sorted(p.name for p in (tmp_path / "plain").iterdir()) and "model.safetensors" in files
    match, mismatch, errors = filecmp.cmpfiles(model_dir, tmp_path / "plain", files, shallow=False)
    assert match == files, (mismatch, errors)
