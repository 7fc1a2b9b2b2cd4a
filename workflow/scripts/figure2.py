from diffuse.job_log import start_job
from diffuse.paper.section4 import figure2
from diffuse.paper.tables import concat_csv, write_table
from diffuse.rng_generalization import summarise

start_job(snakemake)

per_prompt = concat_csv(snakemake.input)
summary = summarise(per_prompt)
legend = [
    "Per model x adapter x point (2a: upper end x, low 1; 2b: range size x): means over the point's prompts "
    "with their 95% CI (_ci95). n_samples: N per prompt; parse_rate, valid_rate: shares of all N (valid: "
    "inside the asked range). entropy, coverage: over parsed answers; entropy_valid, coverage_valid: over "
    "valid answers; exact_entropy_valid: p(y|x) over the range, renormalised; exact_valid_mass: its total. "
    "max_entropy: ln(size). Entropy in nats.",
]
write_table(
    summary,
    snakemake.output.table,
    snakemake.output.table_md,
    "Figure 2 data: entropy vs the asked range, untuned vs RNG-tuned",
    legend=legend,
)
figure2(per_prompt, snakemake.params.tuned, snakemake.output.png, snakemake.output.pdf)
