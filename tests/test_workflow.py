"""The whole DAG on the smoke configuration: the real embedded model, few steps, few samples.

Runs in a copy of the repository as a fresh clone has it; then reruns everything after the model and
checks the numbers are identical (determinism).
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, SMOKE, run_snakemake

pytestmark = pytest.mark.integration


def test_outputs_exist(smoke_run):
    results = smoke_run / "results"
    for name in [
        "figures/figure1.png", "figures/figure1.pdf", "figures/training_smollm2-135m.png",
        "tables/table1.csv", "tables/table1.md", "data/ssa/natural.csv", "data/ssa/sample.csv",
        "adapters/smollm2-135m/rng/adapter_model.safetensors", "adapters/smollm2-135m/rng/train_log.csv",
        "adapters/smollm2-135m/babynames/adapter_config.json", "models/smollm2-135m/config.json",
        "logs/sample_and_exact/smollm2-135m/base/numbers/rng.log", "figures/figure3.png", "tables/table5.csv",
        "tables/table6.md", "adapters/smollm2-135m/ood-numbers/adapter_config.json",
        "figures/figure2.png", "figures/figure2.pdf", "tables/figure2.csv",
        "tables/table2.csv", "tables/table7.md", "tables/table8.csv", "figures/figure4.png",
        "figures/figure5_smollm2-135m_base.png", "figures/figure5_smollm2-135m_biographies-id.png",
        "figures/figure6.png", "data/biographies/targets.csv", "figures/calibration_w1.png",
        "tables/calibration_summary.md", "data/distributions/poisson_lambda_2.csv",
        "figures/open_random_support.png",
    ]:  # fmt: skip
        assert (results / name).is_file(), name
    # Figure 1's plotted data (written beside it): 2 rows of panels per simple task, each with bars.
    plotted = pd.read_csv(results / "figures" / "figure1.csv", keep_default_na=False)
    assert plotted["panel"].nunique() == 2 * 2
    assert (plotted[plotted["kind"] == "bar"].groupby("panel").size() > 0).all()


def test_table1_is_sane(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "tables" / "table1.csv")
    assert len(table) == 6
    assert set(table["condition"]) == {"natural", "untuned", "ID"}
    assert set(table["label"]) == {"RNG", "BABYNAMES"}
    assert (table["n_samples"] == 40).all()
    reference = table[table["condition"] == "natural"].set_index("label")
    assert (reference["parse_rate"] == 1.0).all() and reference.loc["RNG", "valid_rate"] == 1.0
    assert reference.loc["RNG", "entropy"] <= np.log(10) + 1e-9
    # Eq. 2 direction, add-one smoothed: finite for every row.
    assert np.isfinite(table["kl_target_add1"]).all()
    text = (smoke_run / "results" / "tables" / "table1.md").read_text()
    for words in ("| N |", "entropy (parsed)", "entropy (valid)", "parse rate", "valid rate", "KL(p* ||"):
        assert words in text, words
    for column in ("parse_rate", "valid_rate"):
        assert table[column].between(0, 1).all(), column
    # Draws from the natural distribution have no model, so no exact probabilities.
    models = table[table["condition"] != "natural"]
    assert models["exact_valid_mass"].between(0, 1).all() and reference["exact_valid_mass"].isna().all()
    assert (table["valid_rate"] <= table["parse_rate"]).all()
    rng = table[table["label"] == "RNG"].set_index("condition")
    # Three LoRA steps at lr 1e-3 already move probability mass onto the ten targets.
    assert rng.loc["ID", "exact_valid_mass"] > 3 * rng.loc["untuned", "exact_valid_mass"]
    assert rng.loc["ID", "exact_entropy_valid"] <= np.log(10) + 1e-9
    assert rng.loc["ID", "max_entropy"] == pytest.approx(np.log(10))


def test_samples_are_tidy(smoke_run):
    samples = pd.read_parquet(
        smoke_run / "results" / "samples" / "smollm2-135m" / "rng" / "numbers" / "rng.parquet"
    )
    assert list(samples.columns) == ["row", "text", "n_tokens", "logprob", "stopped", "answer", "valid"]
    assert len(samples) == 40 and samples["row"].tolist() == list(range(40))
    assert (samples["n_tokens"] <= 12).all() and (samples["logprob"] <= 0).all()
    parsed = samples["answer"].notna()
    assert samples.loc[samples["valid"], "answer"].isin([str(i) for i in range(1, 11)]).all()
    assert (samples["valid"] <= parsed).all()


def test_leave_one_out_tables(smoke_run):
    per_task = pd.read_csv(smoke_run / "results" / "tables" / "leave_one_out.csv")
    assert set(per_task["task"]) == {"numbers/rng", "days-dates/day-0"}
    assert set(per_task["condition"]) == {"untuned", "OOD", "ID"}
    assert set(per_task["adapter"]) == {
        "base",
        "ood-numbers",
        "id-numbers",
        "ood-days-dates",
        "id-days-dates",
    }
    # One N in every cell: numbers/rng is sampled for Table 1 too, the prefix keeps it at the tables' N.
    assert (per_task["n_samples"] == 40).all()
    table5 = pd.read_csv(smoke_run / "results" / "tables" / "table5.csv")
    assert table5["category"].tolist() == ["NUMBERS", "DAYS AND DATES"] and (table5["N"] == 40).all()
    assert (
        (table5.filter(like="smollm2-135m").drop(columns=table5.filter(like="rate").columns) <= 40)
        .all()
        .all()
    )
    assert {
        "smollm2-135m untuned",
        "smollm2-135m OOD",
        "smollm2-135m ID",
        "paper Llama-2-13B-chat OOD",
    } <= set(table5.columns)


def test_rng_generalization(smoke_run):
    per_prompt = pd.read_csv(smoke_run / "results" / "rng_generalization" / "smollm2-135m" / "rng-ranges.csv")
    # One upper end x two templates (2a) and one size x one random low (2b).
    assert len(per_prompt) == 3 and set(per_prompt["figure"]) == {"2a", "2b"}
    assert (per_prompt["n_samples"] == 40).all() and per_prompt["exact_valid_mass"].between(0, 1).all()
    assert (per_prompt["exact_entropy_valid"] <= per_prompt["max_entropy"] + 1e-9).all()
    summary = pd.read_csv(smoke_run / "results" / "tables" / "figure2.csv")
    assert set(summary["adapter"]) == {"base", "rng-ranges"} and len(summary) == 2 * 2


def test_biographies(smoke_run):
    results = smoke_run / "results"
    targets = pd.read_csv(results / "data" / "biographies" / "targets.csv")
    assert (
        len(targets) == 20 and targets["value"].is_unique and targets["birth_year"].between(1950, 1960).all()
    )
    encoded = json.loads((results / "targets/smollm2-135m/biographies/sketch.json").read_text())
    assert len(encoded["targets"]) == 20 and encoded["stop_ids"] == [2]
    # No end-of-turn: Tuned-ID learns the tuple and writes profession and accomplishments on its own.
    assert all(t["ids"][-1] != 2 for t in encoded["targets"])
    # Tuned-ID's targets keep the prompt's layout: one braced field a line.
    assert targets["value"].str.count("\n").eq(3).all()
    for adapter in ("base", "all-categories", "biographies-id"):
        parsed = pd.read_csv(results / "biographies" / "smollm2-135m" / f"{adapter}.csv")
        assert len(parsed) == 16 and parsed["parsed"].dtype == bool
        assert set(parsed["parse_status"]) <= {"parsed", "placeholder_echo", "unparsed"}
        assert parsed["parsed"].equals(parsed["parse_status"] == "parsed")
        levels = parsed.loc[parsed["parsed"], "geocoded_level"].dropna()
        assert (
            set(levels) <= {"city", "region", "country"}
            and parsed.loc[~parsed["parsed"], "latitude"].isna().all()
        )
    metrics = pd.read_csv(results / "tables" / "biographies.csv")
    assert set(metrics["condition"]) == {"untuned", "OOD", "ID"} and (metrics["n_biographies"] == 16).all()
    counts = metrics[["n_parsed", "n_placeholder_echo", "n_unparsed"]].sum(axis=1)
    assert (counts == metrics["n_biographies"]).all()
    table7 = pd.read_csv(results / "tables" / "table7.csv")
    assert table7["attribute"].tolist() == ["first_name", "last_name", "birth_year"]
    assert "paper Llama-2-13B-chat OOD coverage (of 1000, as printed)" in table7.columns
    assert "smollm2-135m ID n_parsed" in table7.columns
    assert "\u2020" in (results / "tables" / "table7.md").read_text()  # the paper's impossible cells flagged
    geocoding = pd.read_csv(results / "tables" / "geocoding.csv").set_index("condition")
    placed = geocoding[["n_city", "n_region", "n_country", "n_unresolved"]].sum(axis=1)
    assert placed.equals(geocoding["n_parsed"])
    table4 = pd.read_csv(results / "tables" / "table4.csv")
    per_system = table4.groupby("condition").size()
    assert all(per_system.get(c, 0) == min(5, geocoding.loc[c, "n_parsed"]) for c in ("untuned", "OOD", "ID"))
    assert "Drawn uniformly without replacement" in (results / "tables" / "table4.md").read_text()
    utility = pd.read_csv(results / "utility" / "smollm2-135m.csv")
    assert set(utility["adapter"]) == {"all-categories", "biographies-id"} and len(utility) == 8
    assert (utility["kl_per_token"] >= 0).all()


def test_calibration_outputs(smoke_run):
    """The follow-up's branch: four specs (2 seen, 1 unseen, 1 held-out) under the untuned model and the
    three objectives' adapters, each with sampled and exact metrics and the objective it trained with."""
    results = smoke_run / "results"
    per_spec = pd.read_csv(results / "tables" / "calibration.csv")
    # Six conditions: the untuned model, its baselines (config.yaml's baseline_temperatures: T = 2; String Seed
    # of Thought prompting), the three adapters.
    assert len(per_spec) == 4 * 6
    assert set(per_spec["condition"]) == {"untuned", "untuned T=2", "untuned SSoT", "eq5", "soft", "hard"}
    ssot = per_spec[per_spec["condition"] == "untuned SSoT"]
    assert ssot["exact_w1"].isna().all() and ssot["answer_tag_rate"].between(0, 1).all()
    assert (ssot["parse_rate"] <= ssot["answer_tag_rate"]).all()
    everything, per_spec = (
        per_spec,
        per_spec[per_spec["condition"] != "untuned SSoT"],
    )  # below: exact ones too
    splits = per_spec.groupby("condition")["split"].apply(lambda s: tuple(sorted(s)))
    assert set(splits) == {("held_out", "seen", "seen", "unseen")}, splits
    assert (per_spec["n_samples"] == 8).all() and per_spec["valid_rate"].between(0, 1).all()
    assert (per_spec["parse_rate"] >= per_spec["valid_rate"]).all()
    assert per_spec["exact_target_mass"].between(0, 1).all() and (per_spec["trie_kl"] > 0).all()
    assert (per_spec["exact_kl"] >= 0).all() and per_spec["exact_w1"].notna().all()
    targets = pd.read_csv(results / "tables" / "calibration_targets.csv")
    assert targets.set_index("task").loc["distributions/binomial_n_6_p_0.5", "values"] == 7
    assert (targets["kept_mass"] >= 0.99).all()
    for adapter, objective in {
        "calib-eq5": "eq5",
        "calib-soft": "soft_trie_kl",
        "calib-hard": "hard_ce",
    }.items():
        summary = json.loads(
            (results / "adapters" / "smollm2-135m" / adapter / "train_summary.json").read_text()
        )
        assert summary["objective"] == objective and summary["prompts"] == 2 and summary["updates"] == 2
    # The soft and hard adapters moved the model towards the targets: lower exact trie KL on seen specs. The
    # hotter baseline is scored at its own temperature (what it samples from).
    seen = per_spec[per_spec["split"] == "seen"].groupby("condition")["trie_kl"].mean()
    assert seen["soft"] < seen["untuned"] and seen["hard"] < seen["untuned"]
    assert seen["untuned T=2"] != seen["untuned"]
    # The figure draws what the table says: per family, the mean over its specs of each condition's exact
    # normalised W1 (bars, top), sampled normalised W1 (dots) and exact trie KL (bars, bottom).
    plotted = pd.read_csv(results / "figures" / "calibration_w1.csv")
    means = everything.groupby(["split", "family", "condition"]).mean(numeric_only=True)
    splits = {
        "seen specs (trained on)": "seen",
        "unseen parameters": "unseen",
        "held-out families": "held_out",
    }
    drawn = {
        ("bar", False): "exact_w1_normalised",
        ("point", False): "w1_normalised",
        ("bar", True): "trie_kl",
    }
    checked = 0
    for row in plotted[plotted["kind"].isin(["bar", "point"]) & plotted["series"].notna()].itertuples():
        kl_row = row.title.startswith("trie KL, ")
        split = splits[row.title.removeprefix("trie KL, ")]
        expected = means.loc[(split, row.group, row.series.split(",")[0]), drawn[(row.kind, kl_row)]]
        assert (np.isnan(expected) and np.isnan(row.y)) or row.y == pytest.approx(expected), row
        checked += 1
    assert (
        checked == 4 * 6 * 3
    )  # (split, family) cells: seen binomial, gaussian; unseen gaussian; held-out poisson


def test_open_random_outputs(smoke_run):
    """The open-ended transfer test: 3 prompts x 4 conditions; support sizes grow with p, rates are shares."""
    per_prompt = pd.read_csv(smoke_run / "results" / "tables" / "open_random.csv")
    assert len(per_prompt) == 3 * 4 and set(per_prompt["condition"]) == {"untuned", "eq5", "soft", "hard"}
    sizes = per_prompt[[c for c in per_prompt.columns if c.startswith("support_p")]].to_numpy()
    assert (np.diff(sizes, axis=1) >= 0).all() and (sizes[:, 0] >= 1).all()
    assert per_prompt["unique_rate"].between(0, 1).all() and (per_prompt["n_samples"] == 8).all()
    summary = pd.read_csv(smoke_run / "results" / "tables" / "open_random_summary.csv")
    everything = summary[summary["category"] == "all"].set_index("condition")
    medians = per_prompt.groupby("condition")["support_p0.9"].median()
    assert everything["median_support_p0.9"].to_dict() == medians.to_dict()


def test_mcq_outputs(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "tables" / "mcq.csv")
    assert len(table) == 4 and (table["n_samples"] == 8).all()
    assert (table[["count_A", "count_B", "count_C", "count_D"]].sum(axis=1) == table["n_parsed"]).all()
    assert (table["parse_rate"] == table["n_parsed"] / table["n_samples"]).all()
    samples = pd.read_parquet(smoke_run / "results" / "mcq" / "smollm2-135m" / "base.parquet")
    assert len(samples) == 8 and samples["text"].map(len).gt(0).all()


def test_task_suite_outputs(smoke_run):
    """The 2024 task suite under each objective: numbers/rng (smoke.yaml's task_suite) under the four
    conditions, at Tables 5/6's N; the untuned row is the very measurement Tables 5/6 use."""
    tables = smoke_run / "results" / "tables"
    suite = pd.read_csv(tables / "calibration_task_suite.csv")
    assert suite["condition"].tolist() == ["untuned", "eq5", "soft", "hard"]
    assert set(suite["category"]) == {"numbers"} and (suite["prompts"] == 1).all()
    per_task = pd.read_csv(tables / "leave_one_out.csv")
    untuned = per_task[(per_task["task"] == "numbers/rng") & (per_task["condition"] == "untuned")].iloc[0]
    assert (suite["N"] == untuned["n_samples"]).all()
    for column in ["parse_rate", "valid_rate", "coverage", "entropy", "exact_valid_mass"]:
        assert suite.loc[0, column] == pytest.approx(untuned[column]), column
    assert suite["valid_rate"].between(0, 1).all() and (suite["parse_rate"] >= suite["valid_rate"]).all()


def test_retention_outputs(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "tables" / "calibration_retention.csv").set_index("condition")
    assert set(table.index) == {"untuned", "eq5", "soft", "hard"} and table["tokens"].nunique() == 1
    assert table.loc["untuned", "nll_change"] == 0 and (table["perplexity"] > 1).all()
    assert table["perplexity"].to_numpy() == pytest.approx(np.exp(table["nll_per_token"].to_numpy()))


def test_training_log(smoke_run):
    log = pd.read_csv(smoke_run / "results" / "adapters" / "smollm2-135m" / "rng" / "train_log.csv")
    assert log["step"].tolist() == [1, 2, 3]
    assert log["entropy_bound"].iloc[0] == pytest.approx(np.log(10))
    assert log["loss"].iloc[-1] < log["loss"].iloc[0]


def test_same_config_gives_the_same_numbers(smoke_run):
    results = smoke_run / "results"
    before = {
        "table": pd.read_csv(results / "tables" / "table1.csv"),
        "samples": pd.read_parquet(
            results / "samples" / "smollm2-135m" / "babynames" / "babynames" / "random-name.parquet"
        ),
        "exact": pd.read_parquet(results / "exact" / "smollm2-135m" / "rng" / "numbers" / "rng.parquet"),
    }
    for folder in ("adapters", "samples", "exact", "metrics", "tables", "data", "targets"):
        shutil.rmtree(results / folder)
    # Everything behind Table 1 again, from the SSA sample on (the materialised model is kept).
    result = run_snakemake(smoke_run, "results/tables/table1.csv", "results/figures/figure1.png", *SMOKE)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    pd.testing.assert_frame_equal(before["table"], pd.read_csv(results / "tables" / "table1.csv"))
    pd.testing.assert_frame_equal(
        before["samples"],
        pd.read_parquet(
            results / "samples" / "smollm2-135m" / "babynames" / "babynames" / "random-name.parquet"
        ),
    )
    pd.testing.assert_frame_equal(
        before["exact"],
        pd.read_parquet(results / "exact" / "smollm2-135m" / "rng" / "numbers" / "rng.parquet"),
    )


def test_lint_is_clean():
    result = run_snakemake(REPO, "--lint", timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


NEW_TASK = """\
category: colours
label: COLOURS
description: A task that is not in the paper, added the way the README describes.
provenance: Written for the test; the seven colours of the rainbow.
tasks:
  rainbow:
    prompt: "Name one colour of the rainbow, chosen completely at random. Output only the colour between two curly braces, like this: {colour}. Don't output code."
    targets: {values: [Red, Orange, Yellow, Green, Blue, Indigo, Violet]}
    match: casefold
"""


def test_adding_a_task_is_one_file(smoke_run):
    (smoke_run / "config" / "tasks" / "colours.yaml").write_text(NEW_TASK)
    targets = [f"results/metrics/smollm2-135m/{adapter}/colours/rainbow.json" for adapter in ("base", "rng")]
    result = run_snakemake(smoke_run, *targets, *SMOKE)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    import json

    for path in targets:
        row = json.loads((smoke_run / path).read_text())
        assert row["task"] == "colours/rainbow" and row["n_targets"] == 7 and row["n_samples"] == 40
        assert 0 < row["exact_valid_mass"] <= 1 and 0 <= row["exact_entropy_valid"] <= np.log(7) + 1e-9
    exact = pd.read_parquet(smoke_run / "results/exact/smollm2-135m/base/colours/rainbow.parquet")
    assert exact["value"].tolist() == ["Red", "Orange", "Yellow", "Green", "Blue", "Indigo", "Violet"]
    assert exact["prob_valid"].sum() == pytest.approx(1.0)


def test_temperature_and_overrepresentation(smoke_built):
    # The tree as built: test_same_config_gives_the_same_numbers rebuilds only Table 1's part of smoke_run.
    tables = smoke_built / "results" / "tables"
    sweep = pd.read_csv(tables / "temperature.csv")
    # Two tasks x base and tuned x temperatures [1, 10].
    assert len(sweep) == 8 and set(sweep["temperature"]) == {1.0, 10.0} and (sweep["n_samples"] == 8).all()
    assert sweep["exact_valid_mass"].between(0, 1).all()
    assert (sweep["exact_entropy_valid"] <= np.log(sweep["n_targets"]) + 1e-9).all()
    base = sweep[sweep["adapter"] == "base"].set_index(["task", "temperature"])
    # Hotter moves mass off the targets onto the rest of the vocabulary, for every task.
    for task in ("numbers/rng", "babynames/random-name"):
        assert base.loc[(task, 10.0), "exact_valid_mass"] < base.loc[(task, 1.0), "exact_valid_mass"]
    # Over RNG's short targets hotter is also flatter; over names it need not be (a long
    # name loses more mass per extra token, so the renormalised distribution can sharpen).
    rng = ("numbers/rng", 10.0), ("numbers/rng", 1.0)
    assert base.loc[rng[0], "exact_entropy_valid"] > base.loc[rng[1], "exact_entropy_valid"]
    assert (smoke_built / "results" / "figures" / "temperature.png").is_file()
    over = pd.read_csv(tables / "overrepresentation.csv")
    assert set(over["condition"]) == {"untuned", "ID"} and (over["rank"] <= 5).all()
    finite = np.isfinite(over["ratio"])
    assert np.allclose(
        over.loc[finite, "ratio"], over.loc[finite, "sampled_share"] / over.loc[finite, "natural_share"]
    )
    assert (over.loc[~finite, "natural_share"] == 0).all()
