rule ssa_names:
    """The natural distribution of SSA names for ssa.year, and the seeded training sample."""
    output:
        natural="results/data/ssa/natural.csv",
        sample="results/data/ssa/sample.csv",
    log:
        "results/logs/ssa_names.log",
    params:
        year=config["ssa"]["year"],
        size=config["ssa"]["sample_size"],
        seed=config["ssa"]["seed"],
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/ssa_names.py"
