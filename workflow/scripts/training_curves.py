from diffuse.job_log import start_job
from diffuse.paper.training import training_curves
from diffuse.train import curve_frame

start_job(snakemake)

logs = {
    name: curve_frame(folder)
    for name, folder in zip(snakemake.params.trainsets, snakemake.input, strict=True)
}
training_curves(logs, snakemake.output[0], snakemake.wildcards.model)
