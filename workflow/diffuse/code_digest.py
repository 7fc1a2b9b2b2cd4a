"""The code a rule script computes with, as a digest its rule compares: an edit to a `diffuse` module reruns
every job whose script may reach it.

Snakemake reruns a job when its script file changes (the script's mtime), not when a module the script
imports changes. So every rule that runs a script has a param `code`: the digest of each `diffuse` module
the script reaches through imports, followed from module to module. Any import counts, even one inside a
function the script never calls, as do subpackages' `__init__` files: the set errs on the side of rerunning.
Each module is digested as its syntax tree without docstrings, written back as source (`ast.unparse`), so
an edit to a comment, a docstring or the formatting reruns nothing, and any other edit reruns the jobs.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "diffuse"
# Job set-up, not what a job computes: the warm-start hand-over in diffuse/__init__.py and warm.py (a warm
# job computes what a cold one does: tests/test_warm.py), and the log file and thread set-up in job_log.py.
SET_UP_MODULES = frozenset({"diffuse", "diffuse.warm", "diffuse.job_log"})


def module_file(package_dir: Path, module: str) -> Path | None:
    """The file of a `diffuse` module under package_dir (the folder holding diffuse/), or None if none is."""
    base = package_dir.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


@cache  # by source text: an edited file is parsed afresh
def imported_names(
    source: str, module: str | None = None, is_package: bool = False, filename: str = "<source>"
) -> frozenset[str]:
    """Every dotted name an import of `source` may load, with its parent packages: `from a.b import c`
    gives a, a.b and a.b.c (c may be a module or an attribute). `module` resolves relative imports; a
    syntax error names `filename` and its line."""
    names = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            bases = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if module is None:
                    raise ValueError(
                        f"{filename}: a rule script cannot import relatively ({ast.unparse(node)})"
                    )
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            bases = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in bases:
            parts = name.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return frozenset(names)


def reached_modules(script: Path, package_dir: Path) -> dict[str, Path]:
    """The `diffuse` modules (name -> file) the script reaches through imports; set-up modules are neither
    counted nor followed."""
    reached: dict[str, Path] = {}
    pending = set(imported_names(script.read_text(), filename=str(script)))
    while pending:
        name = pending.pop()
        if name in reached or name in SET_UP_MODULES or not name.startswith(PACKAGE + "."):
            continue
        path = module_file(package_dir, name)
        if path is None:  # an attribute, not a module: `from diffuse.lm import exact_logprobs`
            continue
        reached[name] = path
        pending |= imported_names(path.read_text(), name, path.name == "__init__.py", str(path))
    return reached


@cache
def _without_docstrings(source: str, filename: str) -> str:
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)  # no comments or layout; ast.dump gains fields with each Python version


def script_code_digest(script: Path, package_dir: Path) -> str:
    """16 hex digits naming the syntax (docstrings aside) of every `diffuse` module the script reaches."""
    digest = hashlib.sha256()
    for name, path in sorted(reached_modules(script, package_dir).items()):
        digest.update(f"{name}\n{_without_docstrings(path.read_text(), str(path))}\n".encode())
    return digest.hexdigest()[:16]
