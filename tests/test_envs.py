"""The conda envs of the rules carry every pin themselves: conda gets a copy of the file, so no -r or -e."""

import pytest
import yaml
from conftest import REPO


def pins(*names):
    lines = [line.strip() for name in names for line in (REPO / "envs" / name).read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize("env, extra", [("diffuse.yaml", []), ("diffuse-vllm.yaml", ["vllm"])])
def test_conda_env_lists_the_pip_pins(env, extra):
    spec = yaml.safe_load((REPO / "envs" / env).read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    assert not [line for line in pip if line.startswith("-")]  # no -r, -e, --no-deps: paths and flags break
    assert pip == pins("requirements.txt", "requirements-nodeps.txt") + extra
