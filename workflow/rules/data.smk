rule ssa_names:
    """The natural distribution of SSA names for ssa.year, and the seeded training sample."""
    output:
        natural="results/data/ssa/natural.csv",
        sample="results/data/ssa/sample.csv",
    log:
        "results/logs/ssa_names.log",
    conda:
        "../../envs/diffuse.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(10),
    params:
        year=config["ssa"]["year"],
        size=config["ssa"]["sample_size"],
        seed=config["ssa"]["seed"],
    script:
        "../scripts/ssa_names.py"
