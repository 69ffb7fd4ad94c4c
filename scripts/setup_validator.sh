#!/usr/bin/env bash
# `make setup-validator`: Anza's solana-test-validator, built from the agave-validator crate on
# crates.io into .tools/agave/ (never committed). Optional: `make play` and `make test` do not need it;
# with it, `python -m onchain.localnet up --base agave` and the real-ER tests use it as the base chain.
#
# Idempotent: a second run checks the stamp and takes a second. The first build compiles ~970 crates,
# RocksDB and protoc among them (C++): over an hour on 2 cores. The build cache stays in
# .tools/agave-target/ so an interrupted build resumes; delete it to reclaim its disk (~10 GB).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# 3.1.x: the newest release line whose crates build with the machine's Rust 1.95 (4.3+ declare 1.97+).
AGAVE_VERSION="${AGAVE_VERSION:-3.1.12}"
DEST="$ROOT/.tools/agave"
STAMP="$DEST/.agave-$AGAVE_VERSION"
# clang + libclang: bindgen for librocksdb-sys; the rest builds from source (protobuf-src, zstd, ...).
APT_PKGS=(clang libclang-dev pkg-config libssl-dev libudev-dev make)

log() { printf '[setup-validator] %s\n' "$*"; }

if [ -x "$DEST/bin/solana-test-validator" ] && [ -f "$STAMP" ]; then
    log "solana-test-validator $AGAVE_VERSION present ($("$DEST/bin/solana-test-validator" --version))"
    exit 0
fi

source "$ROOT/scripts/apt_install.sh"
apt_install "${APT_PKGS[@]}"

# The machine's rustup toolchain (not Debian's rustc-web, which builds the sBPF program).
CARGO="${CARGO:-$HOME/.cargo/bin/cargo}"
[ -x "$CARGO" ] || CARGO="$(command -v cargo)"
log "building solana-test-validator $AGAVE_VERSION with $("$CARGO" --version) (over an hour on 2 cores)"
start=$(date +%s)
mkdir -p "$DEST"
CARGO_TARGET_DIR="$ROOT/.tools/agave-target" \
    "$CARGO" install agave-validator --version "=$AGAVE_VERSION" --locked --force \
    --bin solana-test-validator --root "$DEST" </dev/null
rm -f "$DEST"/.agave-*
touch "$STAMP"
log "built in $(( $(date +%s) - start )) s: $("$DEST/bin/solana-test-validator" --version)"
