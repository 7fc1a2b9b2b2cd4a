rule leave_one_out_tables:
    """Tables 5 and 6: mean coverage and entropy per category, untuned vs tuned without (OOD) / with (ID) it."""
    input:
        metrics=leave_one_out_metrics(),
        paper_table5="data/paper/table5.csv",
    output:
        per_task=report(
            "results/tables/leave_one_out.csv",
            caption="../report/leave_one_out.rst",
            category="Section 5 - Generalization",
            subcategory="Leave one out (Tables 5, 6, Figure 3)",
            labels={"paper": "Figure 3 data", "kind": "table", "scope": "all models"},
        ),
        per_task_md="results/tables/leave_one_out.md",
        outside_csv=report(
            "results/tables/outside_targets.csv",
            caption="../report/outside_targets.rst",
            category="Section 5 - Generalization",
            subcategory="Leave one out (Tables 5, 6, Figure 3)",
            labels={"paper": "Section 5", "kind": "table", "scope": "all models"},
        ),
        outside_md="results/tables/outside_targets.md",
        table5=report(
            "results/tables/table5.csv",
            caption="../report/table5.rst",
            category="Section 5 - Generalization",
            subcategory="Leave one out (Tables 5, 6, Figure 3)",
            labels={"paper": "Table 5", "kind": "table", "scope": "all models"},
        ),
        table5_md="results/tables/table5.md",
        table6=report(
            "results/tables/table6.csv",
            caption="../report/table6.rst",
            category="Section 5 - Generalization",
            subcategory="Leave one out (Tables 5, 6, Figure 3)",
            labels={"paper": "Table 6", "kind": "table", "scope": "all models"},
        ),
        table6_md="results/tables/table6.md",
    log:
        "results/logs/leave_one_out_tables.log",
    params:
        labels=lambda wc: category_labels(),
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/leave_one_out_tables.py"


rule figure3:
    """Figure 3: entropy in leave-one-out generalization, one panel per category."""
    input:
        "results/tables/leave_one_out.csv",
    output:
        png=report(
            "results/figures/figure3.png",
            caption="../report/figure3.rst",
            category="Section 5 - Generalization",
            subcategory="Leave one out (Tables 5, 6, Figure 3)",
            labels={"paper": "Figure 3", "kind": "figure", "scope": "all models"},
        ),
        pdf="results/figures/figure3.pdf",
    log:
        "results/logs/figure3.log",
    params:
        labels=lambda wc: category_labels(),
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/figure3.py"


rule rng_generalization:
    """Every Figure 2 prompt (Appendix B.1 templates over many ranges), sampled and scored exactly, one model load."""
    input:
        model=model_dir,
        adapter=adapter_dir,
    output:
        "results/rng_generalization/{model}/{adapter}.csv",
    log:
        "results/logs/rng_generalization/{model}/{adapter}.log",
    benchmark:
        "results/benchmarks/rng_generalization/{model}/{adapter}.tsv"
    params:
        spec=config["experiments"].get("rng_generalization"),
        backend=config["sampling"]["backend"],
        backend_options=config["sampling"].get(config["sampling"]["backend"], {}),
        sampling=sampling_settings(config, "rng-formats/any"),
        dtype=lambda wc: config["models"][wc.model]["dtype"],
        chunk_size=config["exact"]["chunk_size"],
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=120,
    conda:
        SAMPLING_ENV
    script:
        "../scripts/rng_generalization.py"


rule figure2:
    """Figure 2: entropy vs range, untuned vs RNG-tuned, with 95% confidence intervals over prompts."""
    input:
        rng_generalization_files(),
    output:
        png=report(
            "results/figures/figure2.png",
            caption="../report/figure2.rst",
            category="Section 5 - Generalization",
            subcategory="RNG formats and ranges (Figure 2)",
            labels={"paper": "Figure 2", "kind": "figure", "scope": "all models"},
        ),
        pdf="results/figures/figure2.pdf",
        table=report(
            "results/tables/figure2.csv",
            caption="../report/figure2_table.rst",
            category="Section 5 - Generalization",
            subcategory="RNG formats and ranges (Figure 2)",
            labels={"paper": "Figure 2 data", "kind": "table", "scope": "all models"},
        ),
        table_md="results/tables/figure2.md",
    log:
        "results/logs/figure2.log",
    params:
        tuned=lambda wc: config["experiments"]["rng_generalization"]["trainset"],
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    script:
        "../scripts/figure2.py"
