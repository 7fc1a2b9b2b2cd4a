from diffuse.job_log import start_job
from diffuse.open_random import summary_table
from diffuse.paper.calibration import open_random_figure
from diffuse.paper.tables import concat_csv, write_table

start_job(snakemake)

per_prompt = concat_csv(snakemake.input)
out = snakemake.output
legend = [
    "One row per model, condition and prompt (data/open_random/prompts.csv). support_p<p>: the fewest first "
    "tokens whose probabilities, largest first, reach p (exact: the model's next-token distribution after the "
    "prompt). unique_rate: distinct normalised answers (first non-empty line, whitespace collapsed, quotes and "
    "a final full stop removed) over all n_samples; empty_rate: answers that normalised to nothing; top_answer, "
    "top_share: the commonest answer and its share; first_token_top1: the likeliest first token's probability.",
]
write_table(
    per_prompt, out.per_prompt, out.per_prompt_md, "Open-ended random generation: every prompt", legend=legend
)
write_table(
    summary_table(per_prompt),
    out.summary,
    out.summary_md,
    "Open-ended random generation: support size and unique answers per condition",
    legend=[
        "Per model, condition and category (all: every prompt): the median over prompts of the first-token "
        "support size at p = 0.5 and 0.9, the mean unique-answer rate and the mean share of the commonest answer.",
    ],
)
open_random_figure(per_prompt, out.png, out.pdf)
