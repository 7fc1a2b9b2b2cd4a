"""Model sources: hub ids are downloaded with a clear error when that cannot work; GPU placement."""

import pytest

from diffuse.models import ModelDownloadError, download_hub_model, is_hub_id


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
