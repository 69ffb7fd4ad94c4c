"""Which base chain the local stack runs (issue 17): the project's own node or Anza's
solana-test-validator, chosen by --base, MLR_BASE or a settings.yaml profile."""
from __future__ import annotations

import pytest

from onchain.localnet import stack as L
from onchain.backends import profiles


def test_the_base_is_own_unless_asked(monkeypatch, tmp_path):
    monkeypatch.delenv("MLR_BASE", raising=False)
    assert L.Localnet(tmp_path).base == "own"
    assert L.Localnet(tmp_path, base="agave").base == "agave"
    monkeypatch.setenv("MLR_BASE", "agave")
    assert L.Localnet(tmp_path).base == "agave"
    with pytest.raises(L.LocalnetError, match="unknown base 'geth'"):
        L.Localnet(tmp_path, base="geth")


def test_agave_without_a_build_is_a_clear_error_and_starts_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(L, "agave_validator", lambda: None)
    net = L.Localnet(tmp_path / "net", base_port=L.free_port_block(8, start=41000), er_port=0, base="agave")
    net.er_port = net.base_port + 4
    with pytest.raises(L.LocalnetError, match="make setup-validator"):
        net.up()
    assert not (tmp_path / "net" / "state.json").exists()


def test_profiles_choose_the_base_and_the_ports(monkeypatch, tmp_path):
    assert profiles.load("local-er")["local_base"] == "own"
    agave = profiles.load("local-er-agave")
    assert agave["local_base"] == "agave" and agave["url"] == profiles.load("local-er")["url"]
    seen = {}

    class Spy(L.Localnet):
        def up(self, timeout=30.0):
            seen.update(base=self.base, base_port=self.base_port, er_port=self.er_port)
            raise SystemExit(0)

    monkeypatch.setattr(L, "Localnet", Spy)
    with pytest.raises(SystemExit):
        L.main(["up", "--profile", "local-er-agave", "--dir", str(tmp_path)])
    assert seen == {"base": "agave", "base_port": 8899, "er_port": 7799}
    with pytest.raises(SystemExit):
        L.main(["up", "--profile", "local-er-agave", "--base", "own", "--er-port", "7000", "--dir", str(tmp_path)])
    assert seen == {"base": "own", "base_port": 8899, "er_port": 7000}


def test_upload_waves_keep_every_chunk_within_one_growth_of_its_shard():
    """send_pipelined takes a wave at once and the chunks may execute in any order, so each chunk
    must end within MAX_GROWTH bytes of what its shard held before the wave."""
    from onchain.sdk import upload as U
    todo = [(s, off + 800, f"{s}:{off}") for s in (0, 1) for off in range(0, 40_000, 800)]
    lengths = {0: 0, 1: 4_000}
    ws = U.waves(todo, lengths)
    assert sorted(t for w in ws for t in w) == sorted(todo)  # each chunk exactly once
    held = dict(lengths)
    for w in ws:
        assert all(end <= held[s] + U.MAX_GROWTH for s, end, _ in w)
        for s, end, _ in w:
            held[s] = max(held[s], end)
    assert len(ws) <= 5  # about MAX_GROWTH / 800 chunks per shard per wave, not one chunk each


def test_session_creation_splits_its_growth_into_transactions_a_validator_accepts():
    from solders.hash import Hash
    from solders.keypair import Keypair
    from solders.message import Message
    from solders.compute_budget import set_compute_unit_limit
    from onchain.sdk import instructions as I
    from onchain.backends.embedded import TX_LIMIT, default_start_state, repeats_that_fit
    from onchain.backends.svm import PROGRAM_ID
    creator, payer = Keypair(), Keypair()
    ix = I.create_session(PROGRAM_ID, creator.pubkey(), 1, 1, default_start_state(), crank_key=payer.pubkey())
    n = repeats_that_fit(ix, payer.pubkey(), [creator.pubkey()], 8)
    size = lambda k: 1 + 64 * 2 + len(bytes(Message.new_with_blockhash(  # noqa: E731
        [set_compute_unit_limit(0), *[ix] * k], payer.pubkey(), Hash.default())))
    assert 1 <= n < 8 and size(n) <= TX_LIMIT < size(n + 1)
    assert repeats_that_fit(ix, creator.pubkey(), [creator.pubkey()], 8) >= n  # one signature less
