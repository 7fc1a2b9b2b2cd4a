"""The default run never touches the network; a run that needs it says so in one clear line."""

import pytest
import yaml
from conftest import copy_repo, network_isolation_works, run_snakemake

from diffuse.config import ConfigError, check_model_source
from diffuse.settings import HUB_OFFLINE, NO_TELEMETRY, job_environment, model_source_kind


def test_source_kinds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    assert model_source_kind("embedded:smollm2-135m-instruct") == "embedded"
    assert model_source_kind("mistralai/Mistral-7B-Instruct-v0.1") == "hub"
    # A folder that exists, or a path whose first part is a folder here, is local even with one '/'.
    assert model_source_kind("models/smol") == "local"
    assert model_source_kind("./smol") == "local" and model_source_kind("/opt/m") == "local"
    with pytest.raises(ConfigError, match=r"models\.mine\.source: local folder 'models/smol' does not exist"):
        check_model_source("mine", "models/smol")
    check_model_source("hubbed", "mistralai/Mistral-7B-Instruct-v0.1")


def test_job_environment():
    assert job_environment(["embedded:smollm2-135m-instruct"]) == {**NO_TELEMETRY, **HUB_OFFLINE}
    with_hub = job_environment(["embedded:smollm2-135m-instruct", "google/gemma-7b-it"])
    assert with_hub == NO_TELEMETRY and with_hub["VLLM_NO_USAGE_STATS"] == "1"


def test_the_smoke_dag_ran_without_network(smoke_built):
    # smoke_built runs the whole smoke DAG inside `unshare --net`: reaching here means it completed offline.
    assert network_isolation_works()
    assert (smoke_built / "results" / "tables" / "table1.csv").exists()


def test_a_hub_model_without_network_stops_naming_it(tmp_path):
    tree = copy_repo(tmp_path / "tree")
    source = "HuggingFaceTB/SmolLM2-135M-Instruct"
    overlay = {"models": {"hubbed": {"source": source}}, "models_to_run": ["hubbed"]}
    (tree / "hub.yaml").write_text(yaml.safe_dump(overlay))
    result = run_snakemake(
        tree, "results/models/hubbed", "--cores", "1", "--configfile", "config/smoke.yaml", "hub.yaml",
        offline=True, timeout=600,
    )  # fmt: skip
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert f"could not download {source}: no network" in log, log[-3000:]
    assert not (tree / "results" / "models" / "hubbed").exists()
