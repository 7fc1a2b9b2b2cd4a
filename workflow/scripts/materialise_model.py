from diffuse.models import materialise_model

materialise_model(snakemake.params.source, snakemake.output[0])  # noqa: F821
