# Section 6: synthetic biographies from the untuned model, Tuned-OOD and Tuned-ID; utility retention.
# Samples come from the shared `sample` rule (task experiments.biographies.task); these rules parse and report.


rule biography_targets:
    """Tuned-ID's target set: seeded tuples of name, gender, date and place of birth, roughly balanced."""
    input:
        surnames="data/biographies/surnames.csv",
    output:
        "results/data/biographies/targets.csv",
    log:
        "results/logs/biography_targets.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        spec=lambda wc: config["experiments"]["biographies"]["targets"],
        code=code_digest("biography_targets.py"),
    script:
        "../scripts/biography_targets.py"


rule parse_biographies:
    """Every generated biography parsed into its six attributes (unparsed ones kept and counted)."""
    input:
        samples=biography_samples,
    output:
        "results/biographies/{model}/{adapter}.parsed.csv",
    log:
        "results/logs/parse_biographies/{model}/{adapter}.log",
    benchmark:
        "results/benchmarks/parse_biographies/{model}/{adapter}.tsv"
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        code=code_digest("parse_biographies.py"),
    script:
        "../scripts/parse_biographies.py"


rule geocode_biographies:
    """A condition's birth places geocoded: each distinct place looked up once (a declared output, written
    whole), and its table with the places located. One job per condition, so an edit that reruns the tuned
    conditions leaves the untuned one alone; parallel jobs share Nominatim's journal and rate limit."""
    input:
        parsed="results/biographies/{model}/{adapter}.parsed.csv",
    output:
        places="results/biographies/{model}/{adapter}.places.csv",
        table="results/biographies/{model}/{adapter}.csv",
    log:
        "results/logs/geocode_biographies/{model}/{adapter}.log",
    benchmark:
        "results/benchmarks/geocode_biographies/{model}/{adapter}.tsv"
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        geocoder=config["experiments"].get("biographies", {}).get("geocoder"),
        # Nominatim's answers, kept across runs and jobs (a journal, like MT-Bench's judgments).
        journal="results/biographies/nominatim-cache.json",
        code=code_digest("geocode_biographies.py"),
    script:
        "../scripts/geocode_biographies.py"


rule biography_tables:
    """Tables 2, 4, 7 and 8 (the paper's numbers beside), Figure 4, and the geocoding levels."""
    input:
        parsed=biography_files("results/biographies/{model}/{adapter}.csv"),
        paper="data/paper/biographies.csv",
    output:
        metrics=report(
            "results/tables/biographies.csv",
            caption="../report/biographies.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Attributes (Tables 2, 4, 7, 8, Figure 4)",
            labels={"paper": "Tables 7, 8 (long form)", "kind": "table", "scope": "all models"},
        ),
        table2=report(
            "results/tables/table2.csv",
            caption="../report/table2.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Attributes (Tables 2, 4, 7, 8, Figure 4)",
            labels={"paper": "Table 2", "kind": "table", "scope": "all models"},
        ),
        table2_md="results/tables/table2.md",
        table4=report(
            "results/tables/table4.csv",
            caption="../report/table4.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Attributes (Tables 2, 4, 7, 8, Figure 4)",
            labels={"paper": "Table 4", "kind": "table", "scope": "all models"},
        ),
        table4_md="results/tables/table4.md",
        table7=report(
            "results/tables/table7.csv",
            caption="../report/table7.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Attributes (Tables 2, 4, 7, 8, Figure 4)",
            labels={"paper": "Table 7", "kind": "table", "scope": "all models"},
        ),
        table7_md="results/tables/table7.md",
        table8=report(
            "results/tables/table8.csv",
            caption="../report/table8.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Attributes (Tables 2, 4, 7, 8, Figure 4)",
            labels={"paper": "Table 8", "kind": "table", "scope": "all models"},
        ),
        table8_md="results/tables/table8.md",
        diversity=report(
            "results/tables/biography_diversity.csv",
            caption="../report/biography_diversity.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Attributes (Tables 2, 4, 7, 8, Figure 4)",
            labels={"paper": "Figure 4b data", "kind": "table", "scope": "all models"},
        ),
        geocoding=report(
            "results/tables/geocoding.csv",
            caption="../report/geocoding.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Birth places (Figure 5)",
            labels={"paper": "Section 6 / Figure 5", "kind": "table", "scope": "all models"},
        ),
        png=report(
            "results/figures/figure4.png",
            caption="../report/figure4.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Attributes (Tables 2, 4, 7, 8, Figure 4)",
            labels={"paper": "Figure 4", "kind": "figure", "scope": "all models"},
        ),
        pdf="results/figures/figure4.pdf",
    log:
        "results/logs/biography_tables.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        # [model, condition] of each `parsed` input, in the same order.
        parsed_keys=[[m, c] for m in MODELS for c in biography_conditions().values()],
        table4=lambda wc: config["experiments"]["biographies"].get("table4", {"n": 5, "seed": 0}),
        code=code_digest("biography_tables.py"),
    script:
        "../scripts/biography_tables.py"


rule figure5:
    """Figure 5: birth places of the first map_points biographies, each at the finest level it resolved to."""
    input:
        "results/biographies/{model}/{adapter}.csv",
    output:
        png=report(
            "results/figures/figure5_{model}_{adapter}.png",
            caption="../report/figure5.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Birth places (Figure 5)",
            labels={"paper": "Figure 5", "kind": "figure", "scope": "{model} {adapter}"},
        ),
        pdf="results/figures/figure5_{model}_{adapter}.pdf",
    log:
        "results/logs/figure5/{model}_{adapter}.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        points=config["experiments"].get("biographies", {}).get("map_points", 500),
        label=lambda wc: biography_conditions()[wc.adapter],
        code=code_digest("figure5.py"),
    script:
        "../scripts/figure5.py"


rule utility:
    """Utility retention offline: KL of each tuned model from the base along the base's greedy answers."""
    input:
        model=model_dir,
        adapters=lambda wc: [f"results/adapters/{wc.model}/{a}" for a in biography_tuned_adapters()],
        instructions=config["experiments"].get("biographies", {}).get("utility", {}).get("instructions", []),
    output:
        "results/utility/{model}.csv",
    log:
        "results/logs/utility/{model}.log",
    benchmark:
        "results/benchmarks/utility/{model}.tsv"
    conda:
        "../../envs/diffuse.yaml"
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(60),
    params:
        spec=lambda wc: config["experiments"]["biographies"]["utility"],
        adapters=biography_tuned_adapters(),
        dtype=model_dtype,
        code=code_digest("utility.py"),
    script:
        "../scripts/utility.py"


rule figure6:
    """Figure 6: utility retention (per-token KL, likelihood of the untuned model's answers) per category."""
    input:
        expand("results/utility/{model}.csv", model=MODELS),
    output:
        png=report(
            "results/figures/figure6.png",
            caption="../report/figure6.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Utility (Figure 6)",
            labels={"paper": "Figure 6 (offline stand-in)", "kind": "figure", "scope": "all models"},
        ),
        pdf="results/figures/figure6.pdf",
        table=report(
            "results/tables/utility.csv",
            caption="../report/utility.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Utility (Figure 6)",
            labels={"paper": "Figure 6 data", "kind": "table", "scope": "all models"},
        ),
    log:
        "results/logs/figure6.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        conditions=biography_conditions(),
        code=code_digest("figure6.py"),
    script:
        "../scripts/figure6.py"


rule mt_bench_data:
    """MT-Bench questions, GPT-4 reference answers and judge prompts (FastChat's files), fetched once."""
    output:
        questions="results/data/mt_bench/question.jsonl",
        references="results/data/mt_bench/reference_answer.jsonl",
        judge_prompts="results/data/mt_bench/judge_prompts.jsonl",
    log:
        "results/logs/mt_bench_data.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        data=lambda wc: mt_bench_spec().get("data", MT_BENCH_DATA),
        code=code_digest("mt_bench_data.py"),
    script:
        "../scripts/mt_bench_data.py"


rule mt_bench_answers:
    """Both turns of every MT-Bench question answered by one model (FastChat's temperatures, seeded)."""
    input:
        model=model_dir,
        adapter=adapter_dir,
        questions=rules.mt_bench_data.output.questions,
        references=rules.mt_bench_data.output.references,
    output:
        "results/mt_bench/{model}/{adapter}/answers.csv",
    log:
        "results/logs/mt_bench_answers/{model}/{adapter}.log",
    conda:
        "../../envs/diffuse.yaml"
    threads: MODEL_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=model_mem_mb,
        runtime=per_attempt(240),
    params:
        spec=lambda wc: mt_bench_spec(),
        dtype=model_dtype,
        code=code_digest("mt_bench_answers.py"),
    script:
        "../scripts/mt_bench_answers.py"


rule mt_bench_judgments:
    """The judge's 1-10 rating of every answer turn (network; unreadable ratings are counted invalid)."""
    input:
        answers=rules.mt_bench_answers.output[0],
        questions=rules.mt_bench_data.output.questions,
        references=rules.mt_bench_data.output.references,
        judge_prompts=rules.mt_bench_data.output.judge_prompts,
    output:
        "results/mt_bench/{model}/{adapter}/judgments.csv",
    log:
        "results/logs/mt_bench_judgments/{model}/{adapter}.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        spec=lambda wc: mt_bench_spec(require_judge=True),
        # Not an output: it survives a failed job, so a rerun reuses the judgments already paid for.
        journal=lambda wc: f"results/mt_bench/{wc.model}/{wc.adapter}/judgments.journal.jsonl",
        code=code_digest("mt_bench_judgments.py"),
    script:
        "../scripts/mt_bench_judgments.py"


rule mt_bench_report:
    """MT-Bench scores of base, Tuned-OOD and Tuned-ID (the paper's Figure 6) and their invalid counts."""
    input:
        biography_files("results/mt_bench/{model}/{adapter}/judgments.csv"),
    output:
        table=report(
            "results/tables/mt_bench.csv",
            caption="../report/mt_bench.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Utility (Figure 6)",
            labels={"paper": "Figure 6 (MT-Bench)", "kind": "table", "scope": "all models"},
        ),
        categories=report(
            "results/tables/mt_bench_categories.csv",
            caption="../report/mt_bench_categories.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Utility (Figure 6)",
            labels={"paper": "Figure 6 (MT-Bench per category)", "kind": "table", "scope": "all models"},
        ),
        png=report(
            "results/figures/figure6_mt_bench.png",
            caption="../report/figure6_mt_bench.rst",
            category="Section 6 - Synthetic biographies",
            subcategory="Utility (Figure 6)",
            labels={"paper": "Figure 6 (MT-Bench)", "kind": "figure", "scope": "all models"},
        ),
        pdf="results/figures/figure6_mt_bench.pdf",
    log:
        "results/logs/mt_bench_report.log",
    localrule: True
    conda:
        "../../envs/diffuse.yaml"
    params:
        conditions=lambda wc: biography_conditions(),
        code=code_digest("mt_bench_report.py"),
    script:
        "../scripts/mt_bench_report.py"
