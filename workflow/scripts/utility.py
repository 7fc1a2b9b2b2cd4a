import pandas as pd

from diffuse.atomic import write_table
from diffuse.job_log import start_job
from diffuse.models import load_model, load_tokenizer
from diffuse.targets import end_of_turn_ids
from diffuse.utility import AdapterSwitch, reference_answers, utility_table

start_job(snakemake)

spec = snakemake.params.spec
instructions = pd.read_csv(snakemake.input.instructions)
if spec.get("limit"):
    instructions = instructions.head(spec["limit"])
tokenizer = load_tokenizer(snakemake.input.model)
base = load_model(snakemake.input.model, dtype=snakemake.params.dtype)
answers = reference_answers(base, tokenizer, instructions, spec["max_new_tokens"], end_of_turn_ids(tokenizer))
adapters = dict(zip(snakemake.params.adapters, snakemake.input.adapters, strict=True))
table = utility_table(AdapterSwitch(base, adapters), instructions, answers)
table.insert(0, "model", snakemake.wildcards.model)
write_table(table, snakemake.output[0])
