"""scripts/check_tree.py, which `make test` runs first: git must track no build product (issue 15)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "check_tree.py"


def check(repo) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--repo", str(repo)], capture_output=True, text=True)


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


def test_this_repository_tracks_no_build_product():
    r = check(REPO_ROOT)
    assert r.returncode == 0, r.stderr
    tracked = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", ".tools"], capture_output=True, text=True)
    assert tracked.stdout == ""


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text(".tools\nbuild/\n")
    (tmp_path / "main.py").write_text("print('hi')\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "sources")
    return tmp_path


def test_a_clean_tree_passes(repo):
    r = check(repo)
    assert r.returncode == 0 and "no build products" in r.stdout, r.stdout + r.stderr


def test_a_committed_executable_fails(repo):
    exe = repo / "tool"
    shutil.copyfile(shutil.which("git"), exe)
    assert exe.read_bytes()[:4] == b"\x7fELF"
    git(repo, "add", "tool")
    git(repo, "commit", "-qm", "a binary")
    r = check(repo)
    assert r.returncode == 1 and "tool: ELF" in r.stderr, r.stderr


def test_a_forced_ignored_file_fails(repo):
    (repo / ".tools").mkdir()
    (repo / ".tools" / ".stamp-0.1.9").write_text("")
    git(repo, "add", "-f", ".tools/.stamp-0.1.9")
    git(repo, "commit", "-qm", "a stamp forced in")
    r = check(repo)
    assert r.returncode == 1 and ".tools/.stamp-0.1.9: tracked although .gitignore ignores it" in r.stderr, r.stderr


def test_compiled_file_names_fail(repo):
    (repo / "mod.cpython-311.pyc").write_bytes(b"\xa7\x0d\x0d\x0a" + bytes(12))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "bytecode")
    r = check(repo)
    assert r.returncode == 1 and "mod.cpython-311.pyc: compiled-object file name" in r.stderr, r.stderr
