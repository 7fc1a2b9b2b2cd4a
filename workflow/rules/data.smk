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
        code=code_digest("ssa_names.py"),
    script:
        "../scripts/ssa_names.py"


rule distribution_targets:
    """A distribution spec's target set (experiments.calibration): scipy.stats discretised to the strings a
    model writes, with the mass each keeps; the worked example of a task whose targets a rule computes."""
    output:
        "results/data/distributions/{spec}.csv",
    log:
        "results/logs/distribution_targets/{spec}.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        spec=lambda wc: CALIBRATION_SPECS[f"distributions/{wc.spec}"],
        discretisation=(CALIBRATION or {}).get("discretisation", {}),
        code=code_digest("distribution_targets.py"),
    script:
        "../scripts/distribution_targets.py"
