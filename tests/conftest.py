from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def so_path() -> Path:
    p = REPO_ROOT / "build" / "world_model.so"
    if not p.is_file():
        pytest.fail(f"{p} is missing: run `make build` first", pytrace=False)
    return p


# shared fixtures below
