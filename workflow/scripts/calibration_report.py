from diffuse.calibration import summary_table
from diffuse.job_log import start_job
from diffuse.paper.calibration import calibration_figure
from diffuse.paper.tables import concat_csv, write_table

start_job(snakemake)

per_spec = concat_csv(snakemake.input)
out = snakemake.output
legend = [
    "One row per model, condition and spec. n_samples: N; parse_rate: answers that are one plain number; "
    "valid_rate: those inside the support (and integers for discrete families), of all N. Over valid answers: "
    "w1: Wasserstein-1 to the discretised target; w1_normalised: w1 / the W1 of always answering the target's "
    "median; mean_error, variance_error: absolute errors against the discretised target's moments; chi2_pvalue: "
    "Pearson's test of the answers binned to the target grid (bins expected < 5 times pooled). Exact (teacher "
    "forcing over every target string): exact_target_mass: the model's total probability of them; exact_w1, "
    "exact_kl: W1 and KL(p* || p) of its distribution over them renormalised; trie_kl: the soft objective's "
    "loss, its exact expectation over p* (the follow-up's logit KL).",
]
write_table(per_spec, out.per_spec, out.per_spec_md, "Calibration: every spec and condition", legend=legend)
write_table(
    summary_table(per_spec),
    out.summary,
    out.summary_md,
    "Calibration: family medians per split and condition",
    legend=[
        "Per model, split (seen: the training specs; unseen: new parameters of trained families; held_out: "
        "families never trained on) and condition: each metric's median over families of its mean over the "
        "family's specs (each family counts once, as in the follow-up). Metrics as in calibration.md.",
    ],
)
calibration_figure(per_spec, out.png, out.pdf)
