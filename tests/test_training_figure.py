"""The training-curve figure plots each adapter's loss over its entropy bound and its target mass."""

import numpy as np
import pandas as pd
import pytest

from diffuse.paper.training import training_curves


def log(steps, bound, threshold, start):
    step = np.arange(1, steps + 1)
    return pd.DataFrame({
        "step": step, "loss": bound * (1 + start / step), "entropy_bound": bound,
        "early_stop_threshold": threshold, "valid_mass": 1 - 0.5 / step,
    })  # fmt: skip


def test_training_curves_plot_the_loss_ratio_and_mass(tmp_path):
    logs = {"rng": log(4, 2.0, 2.4, 3.0), "names": log(3, 5.0, np.inf, 1.0), "mix": log(5, 1.0, 1.2, 0.5)}
    data = training_curves(logs, tmp_path / "t.png", "m")
    assert (tmp_path / "t.csv").exists()
    lines = data[data["kind"] == "line"]
    for name, frame in logs.items():
        ratio = lines[(lines["panel"] == 0) & (lines["series"] == name)]
        assert ratio["x"].tolist() == frame["step"].tolist()
        assert ratio["y"].to_numpy() == pytest.approx((frame["loss"] / frame["entropy_bound"]).to_numpy())
        mass = lines[(lines["panel"] == 1) & (lines["series"] == name)]
        assert mass["y"].to_numpy() == pytest.approx(frame["valid_mass"].to_numpy())
    # One optimum line at 1 and one early-stop line at 1.2 (names has none: its threshold is infinite).
    references = lines[(lines["panel"] == 0) & lines["series"].str.contains("H\\(p\\*\\)")]
    assert sorted(set(references["y"])) == pytest.approx([1.0, 1.2])
