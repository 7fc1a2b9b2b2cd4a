"""Shared fixtures: the real embedded model, materialised once per test session (about 20 s)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Tests import this checkout's `diffuse`, whatever editable install the interpreter holds.
sys.path.insert(0, str(REPO / "workflow"))
EMBEDDED = "embedded:smollm2-135m-instruct"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    from diffuse.models import materialise_model, set_threads

    set_threads(os.cpu_count() or 1)
    out = tmp_path_factory.mktemp("model") / "smollm2-135m"
    materialise_model(EMBEDDED, out)
    return out


@pytest.fixture(scope="session")
def tokenizer(model_dir):
    from diffuse.models import load_tokenizer

    return load_tokenizer(model_dir)


@pytest.fixture(scope="session")
def model(model_dir):
    from diffuse.models import load_model

    return load_model(model_dir)


def copy_repo(dest: Path) -> Path:
    """The working tree as a fresh clone would have it (tracked and new, not ignored, files)."""
    import shutil
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


# A network namespace with no interfaces but loopback (down): nothing inside can reach any host.
NO_NETWORK = ("unshare", "--map-root-user", "--net")


def network_isolation_works() -> bool:
    import subprocess

    try:
        return subprocess.run([*NO_NETWORK, "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def run_snakemake(
    workdir: Path, *args: str, timeout: int = 1800, env: dict | None = None, offline: bool = False
):
    """Snakemake from this interpreter's environment, in `workdir`; returns the CompletedProcess.
    offline: inside a network namespace with no network (NO_NETWORK; an error where that is impossible).

    On timeout the process is killed (SIGKILL): a hung status check ignores SIGTERM.
    """
    import subprocess
    import sys

    if offline and not network_isolation_works():
        raise RuntimeError(
            "cannot run without network: `unshare --map-root-user --net` failed (util-linux's unshare and "
            "user namespaces are needed; run the tests as root, or enable kernel.unprivileged_userns_clone)"
        )
    return subprocess.run(
        [*(NO_NETWORK if offline else ()), sys.executable, "-m", "snakemake", *args],
        cwd=workdir, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


SMOKE = ("--cores", "2", "--configfile", "config/smoke.yaml")


@pytest.fixture(scope="session")
def smoke_built(tmp_path_factory) -> Path:
    """The whole DAG on the smoke configuration, run locally in a copy of the repository with no network at
    all (the default run must never need it); never edited."""
    tree = copy_repo(tmp_path_factory.mktemp("smoke"))
    result = run_snakemake(tree, *SMOKE, offline=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return tree


@pytest.fixture(scope="session")
def smoke_run(smoke_built, tmp_path_factory) -> Path:
    """A copy of the finished smoke tree (mtimes and .snakemake/ kept) that tests may edit and rerun in;
    tests that need the tree as built (tests/test_rerun.py) use smoke_built, whatever order tests run in."""
    import subprocess

    tree = tmp_path_factory.mktemp("smoke-run") / "tree"
    subprocess.run(["cp", "-a", str(smoke_built), str(tree)], check=True)
    return tree


# Tests that load the real model or run Snakemake are `integration` (minutes); `make test-fast` skips them.
MODEL_OR_DAG_FIXTURES = {"model_dir", "tokenizer", "model", "smoke_built", "smoke_run"}
MODEL_OR_DAG_CALLS = ("run_snakemake(", "materialise_model(", "load_model(", "local_slurm")


def _heavy(source: str, helpers: set[str]) -> bool:
    return any(call in source for call in MODEL_OR_DAG_CALLS) or any(f"{h}(" in source for h in helpers)


def pytest_collection_modifyitems(config, items):
    import inspect

    helpers_of = {}  # module -> its functions (helpers, fixtures) that load the model or run Snakemake
    for item in items:
        function = getattr(item, "function", None)
        if function is None:
            continue
        module = inspect.getmodule(function)
        if module not in helpers_of:
            helpers_of[module] = {
                name
                for name, f in inspect.getmembers(module, inspect.isfunction)
                if f.__module__ == module.__name__ and _heavy(inspect.getsource(f), set())
            }
        fixtures = [
            d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs if hasattr(d, "func")
        ]
        sources = [inspect.getsource(function)] + [inspect.getsource(f) for f in fixtures]
        if MODEL_OR_DAG_FIXTURES & set(item.fixturenames) or any(
            _heavy(s, helpers_of[module]) for s in sources
        ):
            item.add_marker(pytest.mark.integration)
