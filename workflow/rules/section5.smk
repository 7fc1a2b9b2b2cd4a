# Section 5, generalization across tasks: one-N leave-one-out metrics, Tables 5 and 6, Figure 3.


rule leave_one_out_metrics:
    """The same metrics over the first experiments.leave_one_out.n rows: one N in every cell of Tables 5/6."""
    input:
        targets="results/targets/{model}/{task}.json",
        samples=SAMPLES_FILE,
        exact=EXACT_FILE,
        data=task_inputs,
    output:
        "results/leave_one_out/metrics/{model}/{adapter}/{task}.json",
    log:
        "results/logs/leave_one_out_metrics/{model}/{adapter}/{task}.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        task=lambda wc: TASKS[wc.task].to_params("metrics"),
        n=LEAVE_ONE_OUT_N,
        n_key="experiments.leave_one_out.n",
        code=code_digest("metrics.py"),
    script:
        "../scripts/metrics.py"


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
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        labels=lambda wc: category_labels(),
        code=code_digest("leave_one_out_tables.py"),
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
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        labels=lambda wc: category_labels(),
        code=code_digest("figure3.py"),
    script:
        "../scripts/figure3.py"
