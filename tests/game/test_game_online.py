"""Online play without a chain: join codes (game/joincode.py), the default keys (onchain/sdk/keys.py
default_key), the client's refusals (bad code, dead host), the lobby and the results screen."""
from __future__ import annotations

import pytest
from solders.keypair import Keypair

from game import joincode
from game.joincode import JoinCode, JoinCodeError, parse
from onchain.sdk.keys import default_key, read_keypair, write_keypair


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


def _game(*argv):
    import os
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "game", "--headless", *argv], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})


def test_the_client_refuses_a_bad_code_and_a_dead_host_with_a_message():
    from onchain.localnet.stack import free_port_block
    bad = _game("--join", "hello")
    assert bad.returncode == 2 and "bad join code 'hello'" in bad.stderr and "Traceback" not in bad.stderr
    port = free_port_block(2, start=45000)  # nothing listens there: a host that is not running
    dead = _game("--join", f"123@127.0.0.1:{port}:{port + 1}")
    assert dead.returncode == 2 and "cannot reach the host's base chain" in dead.stderr, dead.stderr
    watch = _game("--spectate", f"123@127.0.0.1:{port}")
    assert watch.returncode == 2 and "cannot reach the host's ER" in watch.stderr, watch.stderr
    both = _game("--host", "--join", "1@h")
    assert both.returncode == 2 and "exclude each other" in both.stderr


def test_the_lobby_waits_for_its_condition_and_esc_leaves(monkeypatch):
    import os
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from game import settings as S
    from game.lobby import Lobby
    from game.match import Match
    pygame.display.init()
    pygame.font.init()
    try:
        lobby = Lobby(S.load(), Match.of("battlefield", ("fox", "marth")), headless=False)
        polls = []
        assert lobby.wait("Join code: 1@h", ["waiting", "Esc: cancel"], lambda: polls.append(1) or len(polls) >= 3)
        assert len(polls) == 3
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
        assert not lobby.wait("Join code: 1@h", ["waiting", "Esc: cancel"], lambda: False)
        assert not lobby.wait("t", ["x"], lambda: False, deadline=0.0)  # a deadline that passed
    finally:
        pygame.quit()


def test_the_results_screen_shows_who_left_and_the_settlement():
    import os
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame
    from solders.pubkey import Pubkey

    from game import online, render
    from game import settings as S
    from game.app import Game
    from game.match import Match
    from game.session import Session
    from game.stage import load as load_stage
    from onchain.sdk.wire import STATUS_ENDED, SessionView

    view = SessionView(7, 1, STATUS_ENDED, 120, (Pubkey.default(), Pubkey.default()), (119, 119), 0,
                       (tuple([0] * 16), tuple([0] * 16)))

    class Ended(Session):
        local_players = (0,)
        session_id = 7
        settlement = {"settled": True, "rent_lamports": 471_776_640, "final_state": {"frame": 120}}

        def view(self):
            return view

        def result_lines(self):
            return online.settlement_lines(self.settlement, host=True)

    pygame.display.init()
    pygame.font.init()
    try:
        match = Match.of("final_destination", ("fox", "fox"))
        g = Game(S.load(), Ended(), render.Renderer(load_stage(match.stage), match), model_name="m",
                 backend_name="b", headless=True)
        g.draw()
        assert g._game_over()
        title, lines = g.results(view)
        assert title == "Game ended (a player left)"
        assert lines == ["ended on frame 120", "settled on the base chain at frame 120",
                         "rent back to the host: 0.4718 SOL"]
        assert online.settlement_lines(None, host=False) == ["the host is settling on the base chain ..."]
        assert "failed" in online.settlement_lines({"settled": False, "error": "x"}, host=True)[0]
    finally:
        pygame.quit()
