"""The authors' prompt_pass schedule, clipping, early stop, init_adapter and the paper config's training plan."""

import copy
import json
import math

import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, copy_repo, run_snakemake
from snakemake.utils import update_config

from diffuse.config import ConfigError, all_trainsets, check_config, init_adapter, train_settings
from diffuse.lm import exact_logprobs
from diffuse.targets import EncodedTarget, EncodedTask
from diffuse.train import (
    TrainSettings,
    curve_frame,
    gradient_norm,
    lora_model,
    planned_updates,
    prompt_orders,
    train_adapter,
    train_step,
    training_table,
)

COLOURS = ["red", "green", "blue", "black", "white"]


def _task(tokenizer, task_id, values, weights=None):
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": f"Pick one ({task_id})."}], add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    weights = weights or [1 / len(values)] * len(values)
    targets = [
        EncodedTarget(v, v, w, tokenizer(v + "<|im_end|>", add_special_tokens=False)["input_ids"])
        for v, w in zip(values, weights, strict=True)
    ]
    return EncodedTask(task_id, prompt, prompt_ids, [2], targets)


@pytest.fixture(scope="module")
def tasks(tokenizer):
    return [
        _task(tokenizer, "toy/a", COLOURS[:3]),
        _task(tokenizer, "toy/b", COLOURS[:2]),
        _task(tokenizer, "toy/c", COLOURS[:5]),
    ]


def _settings(**overrides):
    base = dict(
        target_modules=["q_proj"],
        schedule="prompt_pass",
        learning_rate=1e-3,
        max_steps=2,
        batch_size=2,
        early_stop_gamma=None,
        max_grad_norm=1.0,
        adam_eps=1e-5,
        weight_decay=0.01,
    )
    return TrainSettings(**{**base, **overrides})


def _train(model_dir, tasks, tmp_path, settings, name="adapter", init=None):
    from diffuse.models import load_model

    out = tmp_path / name
    rows = train_adapter(
        load_model(model_dir), tasks, out, out / "train_log.csv", settings, init_adapter=init
    )
    summary = json.loads((out / "train_summary.json").read_text())
    return rows, summary, out


def test_prompt_pass_updates_every_prompt_once_per_pass_on_its_whole_set(model_dir, tasks, tmp_path):
    settings = _settings()
    rows, summary, out = _train(model_dir, tasks, tmp_path, settings)
    assert len(rows) == planned_updates(settings, len(tasks)) == 2 * 3
    assert summary["updates"] == 6 and summary["steps"] == 2 and summary["stopped_early"] is False
    orders = prompt_orders(len(tasks), 2, settings.seed)
    for pass_index, order in enumerate(orders, start=1):
        done = [row for row in rows if row["pass"] == pass_index]
        assert [row["task"] for row in done] == [tasks[t].task_id for t in order]
    for row in rows:
        task = next(t for t in tasks if t.task_id == row["task"])
        assert row["targets"] == len(task.targets)  # one update sees the prompt's whole target set
        assert row["entropy"] == pytest.approx(math.log(len(task.targets)))
    passes = pd.read_csv(out / "train_passes.csv")
    assert passes["loss_sum"].tolist() == pytest.approx(
        [sum(r["loss"] for r in rows if r["pass"] == p) for p in (1, 2)]
    )
    assert passes["entropy_sum"].iloc[0] == pytest.approx(math.log(3) + math.log(2) + math.log(5))
    # The figure's rows: one per pass, on the per-prompt scale.
    curve = curve_frame(out)
    assert curve["step"].tolist() == [1, 2]
    assert curve["loss"].tolist() == pytest.approx((passes["loss_sum"] / 3).tolist())


def test_different_seeds_shuffle_differently():
    orders = [prompt_orders(10, 3, seed) for seed in (0, 1)]
    assert orders[0] != orders[1] and orders[0] == prompt_orders(10, 3, 0)
    assert all(sorted(order) == list(range(10)) for order in orders[0])


def test_accumulated_micro_batches_give_the_full_set_gradient(model_dir, tasks):
    from diffuse.models import load_model

    # float64: in float32 the two orders of summation differed by 0.9-1.05e-4 of the largest gradient,
    # too close to any tolerance to catch an error; in float64 they agree to 1.1e-7 (measured).
    model = lora_model(load_model(model_dir), _settings()).double()
    task = tasks[2]  # five targets: micro-batches of 2, 2 and 1
    params = [p for p in model.parameters() if p.requires_grad]
    model.zero_grad(set_to_none=True)
    loss, _ = train_step(model, [task], [(0, list(range(5)), 1.0)], _settings(), chunk_size=2)
    accumulated = [p.grad.clone() for p in params]
    # Naive: every full sequence on its own, no shared prompt cache, one backward of the whole set's loss.
    model.zero_grad(set_to_none=True)
    n = len(task.prompt_ids)
    total = 0.0
    for target in task.targets:
        logits = model(torch.tensor([task.prompt_ids + target.ids])).logits[0]
        logp = torch.log_softmax(logits, -1)
        total = total - target.weight * sum(logp[n - 1 + k, tok] for k, tok in enumerate(target.ids))
    total.backward()
    naive = [p.grad.clone() for p in params]
    assert all(g.dtype == torch.float64 for g in naive + accumulated)
    assert loss == pytest.approx(float(total.detach()), rel=1e-10)
    diff = max(float((a - b).abs().max()) for a, b in zip(accumulated, naive, strict=True))
    scale = max(float(b.abs().max()) for b in naive)
    assert scale > 0 and diff <= 1e-6 * scale, (diff, scale)


def _with_grads(seed: int):
    generator = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.zeros(shape)) for shape in [(3, 4), (5,), (2, 2)]]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * 3
    return params


@pytest.mark.parametrize("max_norm", [1.0, 0.5, None])
def test_clipping_matches_torch(max_norm):
    ours, theirs = _with_grads(0), _with_grads(0)
    before = math.sqrt(sum(float((p.grad**2).sum()) for p in ours))
    assert before > 1.0
    norm = gradient_norm(ours, max_norm)
    assert norm == pytest.approx(before, rel=1e-6)
    after = math.sqrt(sum(float((p.grad**2).sum()) for p in ours))
    if max_norm is None:
        assert after == pytest.approx(before, rel=1e-6)
        return
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert float(expected) == pytest.approx(norm, rel=1e-6)
    assert after <= max_norm * (1 + 1e-5)
    assert all(torch.allclose(a.grad, b.grad) for a, b in zip(ours, theirs, strict=True))


def test_training_clips_every_update(model_dir, tasks, tmp_path):
    # A tiny max norm: every logged norm (before clipping) is above it, so every update is clipped.
    rows, _, _ = _train(model_dir, tasks[:2], tmp_path, _settings(max_steps=1, max_grad_norm=1e-6))
    assert len(rows) == 2 and all(row["clipped"] and row["grad_norm"] > 1e-6 for row in rows)


def test_early_stop_compares_the_pass_loss_sum_with_the_entropy_sum(model_dir, tasks, tmp_path):
    two = tasks[:2]
    # First the pass losses without early stop, then gammas just above / below the first pass's ratio.
    rows, _, out = _train(model_dir, two, tmp_path, _settings(max_steps=2), name="free")
    passes = pd.read_csv(out / "train_passes.csv")
    ratio = passes["loss_sum"].iloc[0] / passes["entropy_sum"].iloc[0]
    assert ratio > 1.01
    rows, summary, out = _train(
        model_dir, two, tmp_path, _settings(max_steps=2, early_stop_gamma=ratio - 1 + 1e-3), name="stops"
    )
    assert len(rows) == 2 and summary["stopped_early"] is True and summary["updates"] == 2
    stopped = pd.read_csv(out / "train_passes.csv")
    assert stopped["stop"].tolist() == [True]
    assert stopped["early_stop_threshold"].iloc[0] == pytest.approx(
        ratio * stopped["entropy_sum"].iloc[0], rel=1e-3
    )
    later = passes["loss_sum"].iloc[1] / passes["entropy_sum"].iloc[1]
    gamma = ratio - 1 - 1e-3
    rows, summary, out = _train(
        model_dir, two, tmp_path, _settings(max_steps=2, early_stop_gamma=gamma), name="go"
    )
    assert len(pd.read_csv(out / "train_passes.csv")) == 2 and len(rows) == 4
    assert summary["bound_met"] is bool(later <= 1 + gamma) and summary["stopped_early"] is False


def test_init_adapter_starts_from_the_saved_weights(model_dir, tokenizer, tasks, tmp_path):
    from peft import PeftModel

    from diffuse.models import load_model

    task = tasks[0]
    _, _, first = _train(
        model_dir, [task], tmp_path, _settings(learning_rate=1e-2, max_steps=3), name="first"
    )
    loaded = PeftModel.from_pretrained(load_model(model_dir), str(first))
    weights = torch.tensor(task.weights)
    loaded_loss = -float((weights * exact_logprobs(loaded, task.prompt_ids, task.target_ids)).sum())
    base_loss = -float(
        (weights * exact_logprobs(load_model(model_dir), task.prompt_ids, task.target_ids)).sum()
    )
    assert (
        abs(loaded_loss - base_loss) > 1e-3
    )  # the adapter moved the model, so the comparison means something
    rows, summary, _ = _train(model_dir, [task], tmp_path, _settings(max_steps=1), name="second", init=first)
    assert rows[0]["loss"] == pytest.approx(loaded_loss, rel=1e-5)
    assert summary["init_adapter"] == str(first)


def test_trainable_parameter_count_by_hand(model_dir, tasks, tmp_path):
    from transformers import AutoConfig

    from diffuse.models import load_model

    _, summary, _ = _train(model_dir, tasks[:1], tmp_path, _settings(max_steps=1))
    config = AutoConfig.from_pretrained(model_dir)
    q_out = config.num_attention_heads * (config.hidden_size // config.num_attention_heads)
    lora = config.num_hidden_layers * 4 * (config.hidden_size + q_out)  # A: r x in, B: out x r
    base = sum(p.numel() for p in load_model(model_dir).parameters())
    assert summary["trainable_params"] == lora and summary["total_params"] == base + lora
    assert summary["trainable_fraction"] == pytest.approx(lora / (base + lora))


def test_training_table_by_hand():
    summary = dict(
        init_adapter="results/adapters/m/all-categories", schedule="prompt_pass", objective="eq5", prompts=1,
        targets=3, steps=2,
        updates=2, planned_updates=50, stopped_early=True, final_loss=1.2, bound=1.0, early_stop_threshold=1.2,
        loss_scale="sum", trainable_params=5, total_params=1000,
    )  # fmt: skip
    table = training_table(
        {("m", "biographies-id"): summary, ("m", "rng"): {**summary, "init_adapter": None}}
    )
    assert table["trainable_percent"].tolist() == [0.5, 0.5]
    assert table["init_adapter"].tolist() == ["all-categories", ""]
    assert table["objective"].tolist() == ["eq5", "eq5"]


@pytest.fixture(scope="module")
def paper():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    return config, all_trainsets(config, check_config(config, REPO))


def test_paper_config_trains_as_the_authors(paper):
    paper, trainsets = paper
    settings = {name: train_settings(paper, trainsets, name) for name in trainsets}
    # The authors' configs with early_stop: baby-names, fictitious-people and leave-one-in of three categories.
    stopping = {"babynames", "biographies-id", "id-babynames", "id-fruits", "id-occupations"}
    assert {name for name, s in settings.items() if s.early_stop_gamma is not None} == stopping
    assert {settings[name].early_stop_gamma for name in stopping} == {0.2}
    assert settings["biographies-id"].batch_size == 16
    assert init_adapter(paper, trainsets, "biographies-id") == "all-categories"
    for s in settings.values():
        assert (s.schedule, s.max_steps, s.learning_rate, s.adam_eps, s.weight_decay) == (
            "prompt_pass",
            50,
            5e-5,
            1e-5,
            0.01,
        )
        assert s.max_grad_norm == 1.0 and s.prompts_per_step is None
    assert all(name == "biographies-id" or s.batch_size == 32 for name, s in settings.items())


def test_paper_config_plans_50_updates_per_prompt(paper):
    paper, trainsets = paper
    assert planned_updates(train_settings(paper, trainsets, "all-categories"), 27) == 1350
    assert len(trainsets["all-categories"]["tasks"]) == 27
    for name, trainset in trainsets.items():
        if name.startswith(("id-", "ood-")) or name == "all-categories":
            assert planned_updates(
                train_settings(paper, trainsets, name), len(trainset["tasks"])
            ) == 50 * len(trainset["tasks"])


def test_init_adapter_config_errors():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    check_config(copy.deepcopy(config), REPO)
    bad = copy.deepcopy(config)
    bad["trainsets"]["biographies-id"]["init_adapter"] = "nope"
    with pytest.raises(
        ConfigError, match=r"trainsets\.biographies-id\.init_adapter: unknown trainset 'nope'"
    ):
        check_config(bad, REPO)
    cycle = copy.deepcopy(config)
    cycle["trainsets"]["rng"]["init_adapter"] = "babynames"
    cycle["trainsets"]["babynames"]["init_adapter"] = "rng"
    with pytest.raises(ConfigError, match=r"rng -> babynames -> rng is a cycle"):
        check_config(cycle, REPO)
    shape = copy.deepcopy(config)
    shape["trainsets"]["rng"]["init_adapter"] = "babynames"
    shape["trainsets"]["rng"]["training"]["rank"] = 8
    with pytest.raises(ConfigError, match=r"trainsets\.rng\.init_adapter: training\.rank is 8"):
        check_config(shape, REPO)
    schedule = copy.deepcopy(config)
    schedule["trainsets"]["rng"]["training"].update(schedule="prompt_pass", prompts_per_step=2)
    with pytest.raises(ConfigError, match=r"trainsets\.rng\.training: prompts_per_step"):
        check_config(schedule, REPO)


def test_paper_config_dry_run_trains_tuned_id_from_all_categories(tmp_path):
    tree = copy_repo(tmp_path / "repo")
    result = run_snakemake(
        tree,
        "-n",
        "--cores",
        "8",
        "--configfile",
        "config/paper.yaml",
        "--",
        "results/tables/training.csv",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    jobs = [
        block
        for block in out.split("rule train_adapter:")[1:]
        if "biographies-id" in block.split("output:")[1][:200]
    ]
    assert len(jobs) == 3  # one per model
    for job in jobs:
        assert "results/adapters/" in job.split("output:")[0] and "/all-categories" in job.split("output:")[0]
    assert out.count("rule train_adapter:") == 3 * 17 and "rule training_table:" in out


def test_an_unknown_leave_one_out_adapter_override_is_an_error(paper):
    config = copy.deepcopy(paper[0])
    config["experiments"]["leave_one_out"]["adapter_training"] = {"id-fruit": {"early_stop_gamma": 0.2}}
    with pytest.raises(ConfigError, match="adapter_training.id-fruit: not an adapter of leave_one_out"):
        check_config(config, REPO)


@pytest.mark.parametrize(("total", "warmup_ratio"), [(20, 0.0), (20, 0.03), (40, 0.1), (7, 0.5)])
def test_cosine_factor_matches_transformers(total, warmup_ratio):
    from transformers import get_cosine_schedule_with_warmup

    from diffuse.train import lr_factor

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    theirs = get_cosine_schedule_with_warmup(optimizer, int(total * warmup_ratio), total)
    for update in range(total):
        assert lr_factor(update, total, "cosine", warmup_ratio) == pytest.approx(theirs.get_last_lr()[0])
        optimizer.step()
        theirs.step()
    assert lr_factor(3, total, "constant") == 1.0


def test_training_logs_the_cosine_rate_of_every_update(model_dir, tasks, tmp_path):
    # prompt_pass: 2 passes x 3 prompts = 6 planned updates, the rate decays over all of them.
    settings = _settings(lr_schedule="cosine", warmup_ratio=0.34)
    rows, _, _ = _train(model_dir, tasks, tmp_path, settings)
    rates = [row["learning_rate"] for row in rows]
    # int(6 x 0.34) = 2 warmup updates (0, 1/2), then cos over the other 4: 1, 0.854, 0.5, 0.146.
    expected = [0.0, 0.5] + [0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert rates == pytest.approx([1e-3 * f for f in expected])


def test_new_settings_at_their_default_leave_the_rule_params_as_before():
    from diffuse.config import train_params

    config = {"training": {"learning_rate": 1e-3}}
    trainsets = {"t": {"tasks": ["x/y"]}, "c": {"tasks": ["x/y"], "training": {"lr_schedule": "cosine"}}}
    assert "lr_schedule" not in train_params(config, trainsets, "t")
    assert "warmup_ratio" not in train_params(config, trainsets, "t")
    assert train_params(config, trainsets, "c")["lr_schedule"] == "cosine"
    with pytest.raises(ConfigError, match=r"trainsets.t.training: warmup_ratio: only lr_schedule: cosine"):
        train_settings({"training": {"warmup_ratio": 0.1}}, trainsets, "t")
