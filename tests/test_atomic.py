"""Outputs appear whole or not at all: a killed job leaves no half-written adapter or model behind."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO
from safetensors.torch import load_file

from diffuse.atomic import atomic_dir, atomic_file


def test_atomic_dir_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "adapter"
    with pytest.raises(RuntimeError), atomic_dir(final) as out:
        (out / "weights.bin").write_text("half")
        raise RuntimeError("killed")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    (tmp_path / ".adapter.partial-1").mkdir()  # a SIGKILLed attempt's leftover
    final.mkdir()  # Snakemake may create the empty output folder
    with atomic_dir(final) as out:
        assert out.parent == tmp_path and out.name.startswith(".adapter.partial-")
        (out / "weights.bin").write_text("whole")
    assert (final / "weights.bin").read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]
    with pytest.raises(FileExistsError, match="not empty"), atomic_dir(final):
        pass


def test_atomic_file(tmp_path):
    final = tmp_path / "samples.parquet"
    with pytest.raises(ValueError), atomic_file(final) as out:
        out.write_text("half")
        raise ValueError
    assert list(tmp_path.iterdir()) == []
    with atomic_file(final) as out:
        out.write_text("whole")
    assert final.read_text() == "whole" and list(tmp_path.iterdir()) == [final]


# Trains a small adapter the way scripts/train_adapter.py does (atomic_dir around train_adapter).
DRIVER = """
import json, sys
from diffuse.atomic import atomic_dir
from diffuse.models import load_model, load_tokenizer, set_threads
from diffuse.targets import EncodedTarget, EncodedTask
from diffuse.train import TrainSettings, train_adapter

model_dir, out = sys.argv[1], sys.argv[2]
set_threads(1)
tokenizer = load_tokenizer(model_dir)
prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Pick a colour."}], add_generation_prompt=True,
                                       tokenize=False)
values = ["red", "green", "blue", "black"]
targets = [EncodedTarget(v, v, 0.25, tokenizer(v + "<|im_end|>", add_special_tokens=False)["input_ids"])
           for v in values]
task = EncodedTask("toy/colours", prompt, tokenizer(prompt, add_special_tokens=False)["input_ids"], [2], targets)
settings = TrainSettings(target_modules=["q_proj", "v_proj"], schedule="minibatch", learning_rate=1e-3,
                         max_steps=int(sys.argv[3]), batch_size=4, seed=3, early_stop_gamma=None)
with atomic_dir(out) as partial:
    print("TRAINING", flush=True)
    train_adapter(load_model(model_dir), [task], partial, partial / "train_log.csv", settings)
"""


def _train(model_dir, out, steps):
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(model_dir), str(out), str(steps)], env=env,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def test_a_training_job_killed_midway_leaves_no_adapter_and_reruns_identically(model_dir, tmp_path):
    out = tmp_path / "adapters" / "colours"
    job = _train(model_dir, out, 200)
    assert job.stdout.readline().strip() == "TRAINING"
    time.sleep(2.0)  # inside the training loop of 200 steps
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL
    assert not out.exists(), "a killed job left a folder under the output's name"
    assert [p.name.startswith(".colours.partial-") for p in out.parent.iterdir()] == [True]

    rerun = _train(model_dir, out, 6)
    assert rerun.wait(timeout=600) == 0
    assert [p.name for p in out.parent.iterdir()] == ["colours"], "the leftover was not cleaned up"
    fresh = tmp_path / "fresh" / "colours"
    assert _train(model_dir, fresh, 6).wait(timeout=600) == 0
    weights = "adapter_model.safetensors"
    a, b = load_file(out / weights), load_file(fresh / weights)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 6
