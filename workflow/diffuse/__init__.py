"""diffuse: the science of "Forcing Diffuse Distributions out of Language Models" as plain functions.

Modules: tasks/targets (target sets, chat-template encoding), train (Eq. 5, LoRA), lm (shared-prompt
scoring and sampling), sampling (backends), parsing, metrics, evaluate, biographies, maps, utility;
the paper subpackage draws the tables and figures, one module per paper section.
"""

from .warm import hand_over_snakemake_job

__version__ = "0.1.0"

# A rule script's first `diffuse` import: in a run with a warm-start server the job continues in a child the
# server forks, before the script's own imports (diffuse.warm). Anywhere else this returns at once.
hand_over_snakemake_job()
