"""Section 3's training, as run: the Eq. 5 loss per step against its entropy bound, and the target mass."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..figure_data import save_figure  # noqa: E402
from ..palette import use_theme  # noqa: E402

use_theme()


def training_curves(logs: dict[str, pd.DataFrame], out_png: str | Path, model: str) -> pd.DataFrame:
    """Per-step Eq. 5 loss against its entropy bound, and the valid mass, for each adapter."""
    fig, (loss_ax, mass_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, log in logs.items():
        line = loss_ax.plot(log["step"], log["loss"], marker="o", markersize=3, label=f"{name} loss")[0]
        loss_ax.axhline(
            log["entropy_bound"].iloc[0], color=line.get_color(), linestyle=":", label=f"{name} H(p*)"
        )
        threshold = log["early_stop_threshold"].iloc[0]
        if np.isfinite(threshold):
            loss_ax.axhline(
                threshold, color=line.get_color(), linestyle="--", lw=0.8, label=f"{name} early stop"
            )
        mass_ax.plot(
            log["step"], log["valid_mass"], marker="o", markersize=3, color=line.get_color(), label=name
        )
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("Eq. 5 loss (nats)")
    loss_ax.set_yscale("log")
    loss_ax.legend(fontsize=8)
    mass_ax.set_xlabel("step")
    mass_ax.set_ylabel("probability mass on the targets")
    mass_ax.set_ylim(0, 1.02)
    mass_ax.legend(fontsize=8)
    fig.suptitle(f"LoRA training ({model})")
    fig.tight_layout()
    return save_figure(fig, out_png)
