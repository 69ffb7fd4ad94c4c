# Melee On-Chain World Model — see README.md.
PY    := .venv/bin/python
CRATE := onchain/program
SO    := build/world_model.so

.PHONY: setup setup-validator build test bench bench-er bench-er-sweep play clean localnet localnet-down localnet-status

setup:
	bash scripts/setup.sh

# Optional (issue 17): Anza's solana-test-validator, built from the agave-validator crate on crates.io into
# .tools/agave/ (over an hour on 2 cores); then `python -m onchain.localnet up --base agave` and the real-ER
# tests also run on it. `make play` and `make test` do not need it.
setup-validator:
	bash scripts/setup_validator.sh

# The deployed program (build/world_model.so) and the benchmark build with the kernel benchmark
# instruction (build/world_model_bench.so, cargo feature `bench`; never deployed).
build: setup
	bash scripts/build_program.sh
	bash scripts/build_program.sh bench

# First: git tracks no build product (scripts/check_tree.py). Then host unit tests of the crate, then pytest. Run from the repo root (--manifest-path) so the
# crate's .cargo/config.toml (sBPF linker, build-std) does not apply to the host build.
test: build
	$(PY) scripts/check_tree.py
	env -u RUSTC_BOOTSTRAP RUSTC=/usr/bin/rustc /usr/bin/cargo test --release --manifest-path $(CRATE)/Cargo.toml
	$(PY) -m pytest -q

bench: build
	$(PY) -m onchain.tools.bench

# A 60 s session in the real MagicBlock ER on the local stack; writes build/bench_er.json.
bench-er: build
	$(PY) -m onchain.tools.bench_er

# How many sessions one ER holds at 60 Hz: N = 1, 2, 4, ... concurrent sessions, each with its crank, two
# players and a spectator (onchain/tools/bench_sessions.py); writes build/bench_er_sessions.json and .png.
bench-er-sweep: build
	$(PY) -m onchain.tools.bench_er --sweep

play: build
	$(PY) -m game

# Base chain + MagicBlock ER on 127.0.0.1 (onchain/localnet/stack.py); logs and state in build/localnet/.
localnet: build
	$(PY) -m onchain.localnet up

localnet-status:
	$(PY) -m onchain.localnet status

localnet-down:
	$(PY) -m onchain.localnet down

clean:
	rm -rf build $(CRATE)/target .pytest_cache
