"""Join codes (game/joincode.py) and the default keys of online play (onchain/keys.py default_key):
no chain needed."""
from __future__ import annotations

import pytest
from solders.keypair import Keypair

from game import joincode
from game.joincode import JoinCode, JoinCodeError, parse
from onchain.keys import default_key, read_keypair, write_keypair


def test_default_ports_are_left_out_and_others_round_trip():
    assert str(JoinCode(48213, "192.168.1.20")) == "48213@192.168.1.20"
    for code in (JoinCode(48213, "192.168.1.20"), JoinCode(7, "box.lan", 32004, 32000), JoinCode(9, "h", 7000)):
        assert parse(str(code)) == code
    c = parse(" 12@127.0.0.1:32004:32000 ")
    assert (c.er_url, c.base_url) == ("http://127.0.0.1:32004", "http://127.0.0.1:32000")
    assert parse("5@host").er_port == joincode.ER_PORT and parse("5@host").base_port == joincode.BASE_PORT


@pytest.mark.parametrize("text, why", [
    ("", "no '@'"), ("48213", "no '@'"), ("a@b@c", "no '@'"), ("x1@host", "must be a number"),
    ("-1@host", "must be a number"), ("1@", "not a host name"), ("1@bad_host!", "not a host name"),
    ("1@host:0", "port '0'"), ("1@host:70000", "port '70000'"), ("1@host:p", "port 'p'"),
    ("1@::1", "IPv6"), (f"{2**64}@host", "out of range")])
def test_bad_codes_say_what_is_wrong(text, why):
    with pytest.raises(JoinCodeError, match="bad join code") as e:
        parse(text)
    assert why in str(e.value) and "SESSION@HOST" in str(e.value)


def test_default_key_prefers_the_standard_key_then_a_project_key_per_role(tmp_path):
    standard = tmp_path / "solana" / "id.json"
    keys = tmp_path / "keys"
    host, where = default_key("host", standard=standard, project_dir=keys)  # no standard key: one is made
    assert (keys / "host.json").exists() and "created" in where
    assert default_key("host", standard=standard, project_dir=keys)[0] == host  # and reused
    guest, _ = default_key("guest", avoid=host.pubkey(), standard=standard, project_dir=keys)
    assert guest.pubkey() != host.pubkey()
    mine = Keypair()
    write_keypair(standard, mine)
    assert default_key("host", standard=standard, project_dir=keys)[0] == mine
    # Host and guest on one machine with one standard key: the guest gets its project key.
    assert default_key("guest", avoid=mine.pubkey(), standard=standard, project_dir=keys)[0] == guest
    assert read_keypair(keys / "guest.json") == guest
