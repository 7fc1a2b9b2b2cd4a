from diffuse.atomic import atomic_dir
from diffuse.job_log import start_job
from diffuse.models import load_model
from diffuse.targets import EncodedTask
from diffuse.train import TrainSettings, train_adapter

start_job(snakemake)

tasks = [EncodedTask.load(path) for path in snakemake.input.targets]
model = load_model(snakemake.input.model, dtype=snakemake.params.dtype)
# One named path (a str) when the trainset continues from an adapter, an empty list otherwise.
init = str(snakemake.input.init) if snakemake.input.init else None
settings = TrainSettings(**snakemake.params.settings)
with atomic_dir(snakemake.output[0]) as out:
    train_adapter(model, tasks, out, out / "train_log.csv", settings, init_adapter=init)
