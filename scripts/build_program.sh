#!/usr/bin/env bash
# Build the on-chain program (onchain/program) into build/world_model.so (sBPF v0).
# Uses Solana's `cargo build-sbf` when it is on PATH (set USE_BUILD_SBF=0 to skip it);
# otherwise Debian's rustc-web + build-std + sbpf-linker from .tools/ (see scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CRATE="$ROOT/onchain/program"
OUT="$ROOT/build/world_model.so"
mkdir -p "$ROOT/build"

if [ "${USE_BUILD_SBF:-1}" != 0 ] && command -v cargo-build-sbf >/dev/null 2>&1; then
    echo "[build] cargo build-sbf"
    # Run from the repo root so onchain/program/.cargo/config.toml (sbpf-linker route) is not read.
    cargo build-sbf --manifest-path "$CRATE/Cargo.toml" --sbf-out-dir "$ROOT/build"
    echo "[build] $OUT"
    exit 0
fi

[ -x "$ROOT/.tools/bin/sbpf-linker" ] \
    || { echo "[build] error: .tools/bin/sbpf-linker missing; run 'make setup'" >&2; exit 1; }
echo "[build] cargo build (bpfel-unknown-none, sbpf-linker)"
(cd "$CRATE" && PATH="$ROOT/.tools/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    /usr/bin/cargo build --release --target bpfel-unknown-none --quiet)
so=""
for f in "$CRATE/target/deploy/world_model.so" \
         "$CRATE/target/bpfel-unknown-none/release/libworld_model.so" \
         "$CRATE/target/bpfel-unknown-none/release/world_model.so"; do
    if [ -f "$f" ] && { [ -z "$so" ] || [ "$f" -nt "$so" ]; }; then so="$f"; fi
done
[ -n "$so" ] || { echo "[build] error: no .so produced under $CRATE/target" >&2; exit 1; }
cmp -s "$so" "$OUT" || cp "$so" "$OUT"
echo "[build] $OUT ($(stat -c %s "$OUT") bytes)"
