rule ssa_names:
    """The natural distribution of SSA names for ssa.year, and the seeded training sample."""
    output:
        natural="results/data/ssa/natural.csv",
        sample="results/data/ssa/sample.csv",
    params:
        year=config["ssa"]["year"],
        size=config["ssa"]["sample_size"],
        seed=config["ssa"]["seed"],
    resources:
        mem_mb=4000,
    script:
        "../scripts/ssa_names.py"
