#!/usr/bin/env bash
# One-command, idempotent setup: Debian packages, sbpf-linker (built from crates.io into .tools/, never committed), Python venv (.venv/),
# MagicBlock's ephemeral validator (in .er/, scripts/setup_er.sh).
# A second run only checks stamps and takes a few seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# xvfb + xdotool: the real-window test (tests/test_game_window.py) starts an X server and sends key events.
APT_PKGS=(rustc-web rust-web-src cargo-web llvm-22-dev zlib1g-dev libzstd-dev xvfb xdotool)
SBPF_LINKER_VERSION=0.1.9
TOOLS="$ROOT/.tools"
VENV="$ROOT/.venv"

log() { printf '[setup] %s\n' "$*"; }

# --- 1. Debian packages ---------------------------------------------------------------
source "$ROOT/scripts/apt_install.sh"
apt_install "${APT_PKGS[@]}"

# --- 2. sbpf-linker (built against Debian's LLVM 22, same LLVM as /usr/bin/rustc) ---------
linker_stamp="$TOOLS/.sbpf-linker-$SBPF_LINKER_VERSION"
if [ -x "$TOOLS/bin/sbpf-linker" ] && [ -f "$linker_stamp" ]; then
    log "sbpf-linker $SBPF_LINKER_VERSION present"
else
    log "building sbpf-linker $SBPF_LINKER_VERSION into .tools/ (cargo install; minutes on 2 cores)"
    mkdir -p "$TOOLS"
    RUSTC=/usr/bin/rustc \
    LLVM_PREFIX=/usr/lib/llvm-22 LLVM_SYS_221_PREFIX=/usr/lib/llvm-22 \
        /usr/bin/cargo install sbpf-linker --version "=$SBPF_LINKER_VERSION" --locked --force \
        --no-default-features --features upstream-gallery-22 --root "$TOOLS" --quiet </dev/null
    rm -f "$TOOLS"/.sbpf-linker-*
    touch "$linker_stamp"
fi

# --- 3. Python virtual environment ------------------------------------------------------
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    log "creating .venv with $("$PY" --version 2>&1)"
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "[setup] error: Python >= 3.11 required (set PYTHON=...)" >&2; exit 1; }
    "$PY" -m venv "$VENV"
fi
# Re-install when pyproject.toml, the interpreter, or the set of top-level packages changes.
want="$( { sha256sum pyproject.toml; "$VENV/bin/python" --version;
           ls -d worldmodel/__init__.py onchain/__init__.py game/__init__.py 2>/dev/null || true; } \
         | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.setup-stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "python deps up to date"
else
    # The train extra (torch, matplotlib) is included: `make test` runs a short training run.
    log "pip install -e '.[dev,train]' into .venv (torch is large; first time takes minutes)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off \
        -e '.[dev,train]' </dev/null
    echo "$want" > "$stamp"
fi

# --- 4. MagicBlock's ephemeral validator and its base-chain dumps (.er/) -----------------
bash "$ROOT/scripts/setup_er.sh"
log "done"
