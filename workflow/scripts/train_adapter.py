from pathlib import Path

from diffuse.models import load_model, set_threads
from diffuse.targets import EncodedTask
from diffuse.train import train_adapter

set_threads(snakemake.threads)  # noqa: F821
tasks = [EncodedTask.load(path) for path in snakemake.input.targets]  # noqa: F821
model = load_model(snakemake.input.model, dtype=snakemake.params.dtype)  # noqa: F821
out = Path(snakemake.output[0])  # noqa: F821
out.mkdir(parents=True, exist_ok=True)
train_adapter(model, tasks, out, out / "train_log.csv", snakemake.params.settings)  # noqa: F821
