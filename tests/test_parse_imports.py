"""Parsing the workflow (every `snakemake -n`, `--lint` and cluster job start) must not import torch, nor
pandas and scipy.stats."""

import subprocess
import sys

from conftest import REPO

# What the Snakefile and workflow/rules/*.smk import at parse time.
PARSE_TIME = (
    "import diffuse.config, diffuse.tasks, diffuse.mt_bench, diffuse.settings, diffuse.rng_generalization, "
    "diffuse.calibration, diffuse.warm, diffuse.code_digest"
)


def test_parsing_the_workflow_does_not_import_torch_pandas_or_scipy_stats():
    # pandas and scipy.stats cost about 3 s of every Snakemake start (each test's dry run, each cluster job).
    heavy = {"torch", "transformers", "peft", "pandas", "scipy.stats"}
    code = f"import sys; {PARSE_TIME}; print(sorted({heavy!r} & set(sys.modules)))"
    env = {"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_snakefile_imports_only_torch_free_diffuse_modules():
    # Every `from diffuse... import` in the Snakefile and rules names a module covered above.
    import re

    sources = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    modules = {
        m for path in sources for m in re.findall(r"^\s*from (diffuse\.\w+) import", path.read_text(), re.M)
    }
    assert modules and modules <= set(PARSE_TIME.replace("import ", "").split(", ")), modules


def test_encoding_targets_does_not_import_torch(model_dir):
    # encode_targets jobs (one per task) only tokenise: torch would cost them most of their start-up.
    code = (
        "import sys; from diffuse.models import load_tokenizer; from diffuse.targets import encode_task; "
        "from diffuse.tasks import load_tasks; "
        f"encode_task(load_tokenizer({str(model_dir)!r}), load_tasks('config/tasks')['numbers/rng']); "
        "print(sorted({'torch', 'peft'} & set(sys.modules)))"
    )
    env = {"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
