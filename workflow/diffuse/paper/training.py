"""Section 3's training, as run: the Eq. 5 loss per step over its entropy bound, and the target mass."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..figure_data import save_figure  # noqa: E402
from ..palette import label_hue, use_theme  # noqa: E402

use_theme()


def training_curves(logs: dict[str, pd.DataFrame], out_png: str | Path, model: str) -> pd.DataFrame:
    """Per step, each adapter's Eq. 5 loss over its entropy bound H(p*) (1 is the optimum: the loss is a
    cross-entropy, never below H(p*)), and the probability mass on its targets; seaborn lines, one colour
    per adapter. Dashed: an early-stop level (the loss within 20% of H(p*)) where an adapter has one."""
    frames = []
    for name, log in logs.items():
        bound = log["entropy_bound"].where(log["entropy_bound"] > 0)
        frames.append(log.assign(adapter=name, loss_ratio=log["loss"] / bound,
                                 stop_ratio=log["early_stop_threshold"] / bound))  # fmt: skip
    long = pd.concat(frames, ignore_index=True)
    names = list(logs)
    colors = dict(zip(names, sns.color_palette("tab20", len(names)).as_hex(), strict=True))
    fig, (loss_ax, mass_ax) = plt.subplots(1, 2, figsize=(13, 4.6))
    lines = {"x": "step", "hue": "adapter", "hue_order": names, "palette": colors, "marker": "o", "ms": 3}
    sns.lineplot(data=long, y="loss_ratio", ax=loss_ax, legend=False, **lines)
    sns.lineplot(data=long, y="valid_mass", ax=mass_ax, legend=False, **lines)
    label_hue(loss_ax, colors)
    label_hue(mass_ax, colors)
    loss_ax.axhline(1.0, color="black", ls=":", lw=1, label="H(p*): the optimum")
    for level in sorted(set(np.round(long["stop_ratio"][np.isfinite(long["stop_ratio"])], 6))):
        loss_ax.axhline(level, color="black", ls="--", lw=0.8, label=f"early stop: {level:g} x H(p*)")
    for ax in (loss_ax, mass_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.set_xlabel("step (minibatch: one update; prompt_pass: one pass over every prompt)")
    loss_ax.set_ylabel("Eq. 5 loss / H(p*)")
    loss_ax.set_yscale("log")
    references = [line for line in loss_ax.lines if line.get_label().startswith(("H(p*)", "early stop"))]
    loss_ax.legend(handles=references, fontsize=8)  # the adapters' colours are in the other panel's legend
    mass_ax.set_xlabel("step")
    mass_ax.set_ylabel("probability mass on the targets")
    mass_ax.set_ylim(0, 1.02)
    mass_ax.legend(title="adapter", fontsize=7, ncol=1 if len(names) <= 10 else 2, loc="center left",
                   bbox_to_anchor=(1.01, 0.5), frameon=False)  # fmt: skip
    fig.suptitle(f"LoRA training ({model}): {len(names)} adapters")
    fig.tight_layout()
    return save_figure(fig, out_png)
