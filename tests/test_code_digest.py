"""diffuse.code_digest: which package modules a rule script reaches, and which edits change its digest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diffuse.code_digest import (
    SET_UP_MODULES,
    imported_names,
    module_file,
    reached_modules,
    script_code_digest,
)

REPO = Path(__file__).resolve().parent.parent

PACKAGE = {
    "diffuse/__init__.py": "from .warm import hand_over\nhand_over()\n",
    "diffuse/warm.py": "from .models import load\n\ndef hand_over():\n    pass\n",
    "diffuse/models.py": "def load():\n    return 1\n",
    "diffuse/lm.py": '"""Scoring."""\n\ndef score(x):\n    """Log p."""\n    return x + 1  # one more\n',
    "diffuse/evaluate.py": "def run():\n    from .lm import score\n\n    return score(0)\n",
    "diffuse/unused.py": "VALUE = 1\n",
    "diffuse/paper/__init__.py": "",
    "diffuse/paper/section5.py": "from ..palette import COLORS\n",
    "diffuse/palette.py": "COLORS = ['red']\n",
}
SCRIPT = "from diffuse.evaluate import run\nfrom diffuse.paper import section5\nimport numpy\n"


def write_package(root: Path, edits: dict[str, str] | None = None) -> tuple[Path, Path]:
    for name, text in {**PACKAGE, **(edits or {})}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    script = root / "scripts" / "job.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(SCRIPT)
    return script, root


def test_imported_names_resolve_relative_imports_and_parents():
    source = "from .lm import score\nfrom ..palette import C\nimport diffuse.paper.section5 as s\n"
    assert imported_names(source, "diffuse.paper.section5") == {
        "diffuse",
        "diffuse.paper",
        "diffuse.paper.lm",
        "diffuse.paper.lm.score",
        "diffuse.palette",
        "diffuse.palette.C",
        "diffuse.paper.section5",
    }
    assert "diffuse.paper.lm" in imported_names("from . import lm\n", "diffuse.paper", is_package=True)


def test_a_script_reaches_imports_inside_functions_and_parent_packages(tmp_path):
    script, package_dir = write_package(tmp_path)
    # evaluate imports lm inside a function; section5 reaches palette by a relative import; the root
    # package and the warm start (and what only the warm start imports) are set-up, not followed.
    assert set(reached_modules(script, package_dir)) == {
        "diffuse.evaluate",
        "diffuse.lm",
        "diffuse.paper",
        "diffuse.paper.section5",
        "diffuse.palette",
    }


def test_only_an_edit_to_what_a_module_computes_changes_the_digest(tmp_path):
    def digest(edits=None, name="tree"):
        return script_code_digest(*write_package(tmp_path / name, edits))

    before = digest()
    assert digest(name="again") == before
    lm = PACKAGE["diffuse/lm.py"]
    unchanged = {
        "comment": lm.replace("# one more", "# plus one"),
        "docstring": lm.replace('"""Log p."""', '"""The log-probability."""'),
        "layout": lm.replace("return x + 1", "return (x\n            + 1)"),
        "unreached module": None,
    }
    for label, text in unchanged.items():
        edits = {"diffuse/unused.py": "VALUE = 2\n"} if text is None else {"diffuse/lm.py": text}
        assert digest(edits, label.replace(" ", "-")) == before, label
    changed = {
        "lm, reached inside a function": {"diffuse/lm.py": lm.replace("x + 1", "x + 2")},
        "palette, reached by a relative import": {"diffuse/palette.py": "COLORS = ['blue']\n"},
        "a module no longer reached": {"diffuse/paper/section5.py": ""},
    }
    for label, edits in changed.items():
        assert digest(edits, label.split(",")[0].replace(" ", "-")) != before, label


def test_every_rule_that_runs_a_script_compares_its_code():
    """Each rule's `script:` names one of workflow/scripts/, and the rule has code=code_digest(that script)."""
    used = set()
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^\s*(?=(?:rule|checkpoint) \w+:)", path.read_text()):
            if "script:" not in block:
                continue
            name = block.split(":")[0]
            script = re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', block)
            assert script, f"{path.name}: {name} runs a script outside workflow/scripts/"
            assert f'code=code_digest("{script.group(1)}")' in block, f"{path.name}: {name}"
            used.add(script.group(1))
    assert used == {p.name for p in (REPO / "workflow" / "scripts").glob("*.py")}


def test_the_set_up_modules_import_nothing_else_of_the_package():
    """What the digest leaves out must not hide a module that computes: set-up imports only set-up."""
    package_dir = REPO / "workflow"
    for name in SET_UP_MODULES:
        path = module_file(package_dir, name)
        imported = imported_names(path.read_text(), name, path.name == "__init__.py")
        modules = {m for m in imported if m.startswith("diffuse.") and module_file(package_dir, m)}
        assert modules <= SET_UP_MODULES, (name, modules - SET_UP_MODULES)


def test_a_relative_import_in_a_script_names_the_script(tmp_path):
    script, package_dir = write_package(tmp_path)
    script.write_text("from .lm import score\n")
    with pytest.raises(ValueError, match="job.py"):
        script_code_digest(script, package_dir)


def test_a_syntax_error_names_the_module_and_line(tmp_path):
    script, package_dir = write_package(tmp_path, {"diffuse/palette.py": "COLORS = [\n"})
    with pytest.raises(SyntaxError) as error:
        script_code_digest(script, package_dir)
    assert error.value.filename == str(tmp_path / "diffuse" / "palette.py") and error.value.lineno == 1
