#!/usr/bin/env bash
# Build the on-chain program (onchain/program) into build/world_model.so (sBPF v0).
# `build_program.sh bench` builds the benchmark variant instead (cargo feature `bench`: adds the
# kernel benchmark instruction) into build/world_model_bench.so, in its own target folder so the
# two builds never invalidate each other. The deployed program is always the plain one.
# Uses Solana's `cargo build-sbf` when it is on PATH (set USE_BUILD_SBF=0 to skip it);
# otherwise Debian's rustc-web + build-std + sbpf-linker from .tools/ (see scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CRATE="$ROOT/onchain/program"
VARIANT="${1:-deploy}"
case "$VARIANT" in
    deploy) OUT="$ROOT/build/world_model.so"; FEATURES=(); TARGET_DIR="$CRATE/target" ;;
    bench)  OUT="$ROOT/build/world_model_bench.so"; FEATURES=(--features bench); TARGET_DIR="$CRATE/target/bench" ;;
    *) echo "[build] usage: build_program.sh [deploy|bench]" >&2; exit 2 ;;
esac
mkdir -p "$ROOT/build"

if [ "${USE_BUILD_SBF:-1}" != 0 ] && command -v cargo-build-sbf >/dev/null 2>&1; then
    echo "[build] cargo build-sbf"
    # Run from the repo root so onchain/program/.cargo/config.toml (sbpf-linker route) is not read.
    sbf_out="$(mktemp -d)"
    cargo build-sbf --manifest-path "$CRATE/Cargo.toml" --sbf-out-dir "$sbf_out" "${FEATURES[@]}"
    cp "$sbf_out/world_model.so" "$OUT"
    echo "[build] $OUT"
    exit 0
fi

[ -x "$ROOT/.tools/bin/sbpf-linker" ] \
    || { echo "[build] error: .tools/bin/sbpf-linker missing; run 'make setup'" >&2; exit 1; }
echo "[build] cargo build $VARIANT (bpfel-unknown-none, sbpf-linker)"
(cd "$CRATE" && PATH="$ROOT/.tools/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$TARGET_DIR" \
    /usr/bin/cargo build --release --target bpfel-unknown-none --quiet "${FEATURES[@]}")
so=""
# (not target/deploy/: the linker writes a copy there whatever CARGO_TARGET_DIR is, so the two
# variants would overwrite each other's)
for f in "$TARGET_DIR/bpfel-unknown-none/release/libworld_model.so" \
         "$TARGET_DIR/bpfel-unknown-none/release/world_model.so"; do
    if [ -f "$f" ] && { [ -z "$so" ] || [ "$f" -nt "$so" ]; }; then so="$f"; fi
done
[ -n "$so" ] || { echo "[build] error: no .so produced under $CRATE/target" >&2; exit 1; }
cmp -s "$so" "$OUT" || cp "$so" "$OUT"
echo "[build] $OUT ($(stat -c %s "$OUT") bytes)"
