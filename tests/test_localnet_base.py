"""Which base chain the local stack runs (issue 17): the project's own node or Anza's
solana-test-validator, chosen by --base, MLR_BASE or a settings.yaml profile."""
from __future__ import annotations

import pytest

from onchain import localnet as L
from onchain import profiles


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
