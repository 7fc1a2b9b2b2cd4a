rule leave_one_out_tables:
    """Tables 5 and 6: mean coverage and entropy per category, untuned vs tuned without (OOD) / with (ID) it."""
    input:
        metrics=leave_one_out_metrics(),
        paper_table5="data/paper/table5.csv",
    output:
        per_task="results/tables/leave_one_out.csv",
        table5="results/tables/table5.csv",
        table5_md="results/tables/table5.md",
        table6="results/tables/table6.csv",
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
        png="results/figures/figure3.png",
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
