import pandas as pd

from diffuse.evaluate import natural_distribution
from diffuse.job_log import start_job
from diffuse.metrics import overrepresentation
from diffuse.paper.tables import write_table
from diffuse.parsing import match_key
from diffuse.tasks import Task, target_values

start_job(snakemake)

params = snakemake.params
labels = {e["task"]: e.get("label", e["task"]) for e in params.experiments}
rows = []
for path, key in zip(snakemake.input.samples, params.entries, strict=True):
    task = Task.from_params(params.tasks[key["task"]])
    values, _ = target_values(task)
    natural = natural_distribution(task, values)
    samples = pd.read_parquet(path)
    answers = [None if a is None or pd.isna(a) else match_key(a, task.match) for a in samples["answer"]]
    valid = {match_key(v, task.match) for v in values}
    for row in overrepresentation(answers, natural, valid, params.top_k):
        rows.append({**key, "label": labels[key["task"]], **row})
table = pd.DataFrame(rows)
legend = [
    f"The {params.top_k} answers sampled most often per model x task x condition. N: samples; parse rate, "
    "valid rate: shares of all N (valid: in the target set). sampled_share: the answer's share of the parsed "
    "answers; natural_share: its probability under the natural distribution (BABYNAMES: SSA counts of the "
    "configured year; RNG: uniform over 1-10); ratio = sampled_share / natural_share, inf where the natural "
    "share is 0 (note says so). valid: the answer is a target. Answers in match form (numbers as written, "
    "names as written; casefolded where the task matches so).",
    "Paper (section 4.1): Llama-2 samples 'Aurora' about 100x its natural frequency, Mistral 'Avery' 40x; "
    "Gemma and Llama-2 give 'five' over 60% on RNG (natural share 10%, ratio above 6).",
]
write_table(
    table,
    snakemake.output.csv,
    snakemake.output.md,
    "Over-representation (section 4.1): most sampled answers against their natural frequency",
    legend=legend,
)
