#!/usr/bin/env python3
"""Fail if git tracks a build product: `make test` runs this first (issue 15).

A clean clone must build its own tools (`make setup` builds sbpf-linker into .tools/), so the
repository may hold sources, documentation and data, never something compiled. Two checks over
`git ls-files` in the repository (default: this one; `--repo DIR` for another):

1. no tracked file matches .gitignore (`git ls-files --cached --ignored --exclude-standard`): a
   build output that was committed before, or forced in past the ignore list (.tools/, build/,
   target/, .venv/, __pycache__/ ...);
2. no tracked file is a compiled object by its first bytes: ELF (executables, shared objects,
   .o), Windows PE, Mach-O, `ar` archives (.a, .rlib), WebAssembly, Python bytecode (.pyc), Java
   classes, LLVM bitcode.

Prints each offender with the reason and exits 1; prints one line and exits 0 when the tree is clean.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

MAGIC = [
    (b"\x7fELF", "ELF object/executable"),
    (b"MZ", "Windows PE executable"),
    (b"\xfe\xed\xfa\xce", "Mach-O"), (b"\xfe\xed\xfa\xcf", "Mach-O"),
    (b"\xce\xfa\xed\xfe", "Mach-O"), (b"\xcf\xfa\xed\xfe", "Mach-O"),
    (b"\xca\xfe\xba\xbe", "Mach-O universal / Java class"),
    (b"!<arch>\n", "ar archive (.a / .rlib)"),
    (b"\x00asm", "WebAssembly module"),
    (b"BC\xc0\xde", "LLVM bitcode"), (b"\xde\xc0\x17\x0b", "LLVM bitcode wrapper"),
]
COMPILED_SUFFIXES = {".pyc", ".pyo", ".o", ".a", ".so", ".rlib", ".rmeta", ".dll", ".dylib", ".exe", ".class"}


def git(repo: Path, *args: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout
    return [line for line in out.split("\0") if line]


def offenders(repo: Path) -> list[str]:
    found = [f"{p}: tracked although .gitignore ignores it"
             for p in git(repo, "ls-files", "-z", "--cached", "--ignored", "--exclude-standard")]
    for p in git(repo, "ls-files", "-z"):
        path = repo / p
        if Path(p).suffix in COMPILED_SUFFIXES:
            found.append(f"{p}: compiled-object file name ({Path(p).suffix})")
            continue
        if not path.is_file() or path.is_symlink():
            continue
        with open(path, "rb") as f:
            head = f.read(8)
        for magic, what in MAGIC:
            # "MZ" alone is too short to trust in text; PE files also carry "PE\0\0" later.
            if head.startswith(magic) and (magic != b"MZ" or b"PE\x00\x00" in path.read_bytes()[:4096]):
                found.append(f"{p}: {what} (by its first bytes)")
                break
    return sorted(set(found))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args(argv)
    bad = offenders(args.repo)
    if bad:
        print("check_tree: git tracks build products (remove them with `git rm --cached`):", file=sys.stderr)
        for line in bad:
            print("  " + line, file=sys.stderr)
        return 1
    print(f"check_tree: {len(git(args.repo, 'ls-files', '-z'))} tracked files, no build products")
    return 0


if __name__ == "__main__":
    sys.exit(main())
