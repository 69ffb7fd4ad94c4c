"""`python -m game`: parse options, build the session for the mode, run the loop."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import settings as S

MODES = ("local", "online", "spectate", "replay")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m game",
        description="Melee world-model client: two players on one machine (local), one player per "
                    "desktop against a remote session (online), watching (spectate), or a Slippi "
                    "replay next to the model's prediction (replay).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="In-game keys: Esc menu (pause in local mode, Controls screen to view/remap keys), "
               "F1 HUD, F11 fullscreen; after a game: Enter new game, C keep watching.\n\n"
               "settings.yaml options (override for one run with --set KEY=VALUE):\n" + S.describe(),
    )
    p.add_argument("--mode", choices=MODES, default="local", help="what to play (default: local)")
    o = p.add_argument_group("online play in two commands (README: Playing over the network)")
    o.add_argument("--host", action="store_true",
                   help="host an online game: start the local chain stack if needed, upload the model, create the "
                        "session, show a join code, crank, settle at the end")
    o.add_argument("--join", metavar="CODE", help="join a hosted game with its code (SESSION@HOST[:ER_PORT[:BASE_PORT]])")
    o.add_argument("--spectate", metavar="CODE", dest="spectate_code", help="watch a hosted game with its code")
    o.add_argument("--listen", metavar="ADDR",
                   help="--host: the address the local stack binds when this game starts it (0.0.0.0: other "
                        "machines may join; the code then shows this machine's LAN address)")
    o.add_argument("--address", help="--host: the host address the join code shows (default: from --listen / --url)")
    o.add_argument("--base", metavar="URL", help="--host: the base chain's RPC (default: the profile's base_url)")
    o.add_argument("--stocks", type=int, choices=(1, 2, 3, 4), help="stocks each player starts with (default 4)")
    o.add_argument("--crank", choices=("scheduled", "python"), default="scheduled",
                   help="--host: the ER's own scheduled crank (default; falls back to python) or the Python crank")
    p.add_argument("replay", nargs="?", metavar="FILE.slp[.xz]", help="the replay for --mode replay")
    p.add_argument("--settings", type=Path, default=S.DEFAULT_PATH, help="settings file (default: settings.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one settings.yaml option for this run (repeatable)")
    p.add_argument("--profile", help="chain profile from settings.yaml's backend.profiles (embedded, local-er, "
                                     "devnet): sets the backend.* keys; --url and --set still override")
    p.add_argument("--backend", choices=("embedded", "remote", "sim"), help="local mode's backend (backend.kind)")
    p.add_argument("--url", help="RPC endpoint of a validator or ER (backend.url)")
    p.add_argument("--session", type=int, help="session id (online/spectate; local default: session_id)")
    p.add_argument("--player", type=int, choices=(1, 2), help="which player this desktop is (online)")
    p.add_argument("--wait", type=float, default=60.0,
                   help="online/spectate: seconds to wait for the session to exist and (ER) be delegated (default 60)")
    p.add_argument("--model-id", type=int, help="an uploaded model's id, to create an online session")
    p.add_argument("--model", help="model: auto, random, a name under assets/models/, or a directory")
    p.add_argument("--stage", type=stage_arg, metavar="STAGE",
                   help=f"stage of a local game: {', '.join(S.STAGES)} (or its Slippi id)")
    p.add_argument("--characters", type=characters_arg, metavar="A,B",
                   help="player 1's and player 2's characters, e.g. fox,marth (names or Slippi ids)")
    p.add_argument("--keypair", help="player 1's key file, or 'ephemeral'")
    p.add_argument("--fullscreen", action="store_true", default=None, help="start fullscreen")
    p.add_argument("--windowed", dest="fullscreen", action="store_false", help="start in a window")
    p.add_argument("--width", type=int, help="window width")
    p.add_argument("--height", type=int, help="window height")
    p.add_argument("--scale", type=int, help="integer scale of the 640x360 picture (0 = fit)")
    p.add_argument("--no-hud", action="store_true", help="start with the HUD hidden")
    p.add_argument("--no-gamepad", action="store_true", help="keyboard only")
    g = p.add_argument_group("headless runs")
    g.add_argument("--headless", action="store_true",
                   help="no window (SDL_VIDEODRIVER=dummy), scripted inputs, prints a JSON summary")
    g.add_argument("--frames", type=int, default=600, help="frames to run headless (default 600)")
    g.add_argument("--script", default="demo", help="scripted inputs: demo, idle, random, ko (default demo)")
    g.add_argument("--timeout", type=float, default=120.0,
                   help="online/spectate headless: give up after this many seconds (default 120)")
    g.add_argument("--duration", type=float,
                   help="online/spectate headless: stop after this many seconds (a normal end, unlike --timeout)")
    p.add_argument("--status-json", type=Path, metavar="JSON",
                   help="interactive: rewrite this file 10 times a second with the window size, menu, frame, "
                        "fighters drawn and the inputs on chain (for tests and tools outside the process)")
    g.add_argument("--playout-json", type=Path, metavar="JSON",
                   help="online/spectate: write the playout buffer's measurements here at exit")
    g.add_argument("--screenshot", type=Path, metavar="PNG", help="save the last frame (window size) as PNG")
    return p


def stage_arg(text: str) -> str:
    from worldmodel.stages import stage
    try:
        return stage(text).key
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def characters_arg(text: str) -> str:
    from worldmodel.stages import CHARACTERS, character_id
    names = text.split(",")
    if len(names) != 2:
        raise argparse.ArgumentTypeError("two characters, comma-separated (e.g. fox,marth)")
    try:
        return ",".join(CHARACTERS[character_id(n.strip())] for n in names)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def apply_args(settings: S.Settings, args: argparse.Namespace) -> None:
    for assignment in args.set:
        settings.set_from_text(assignment)
    profile = getattr(args, "profile", None) or settings["backend.profile"]
    if profile:
        settings.apply_profile(profile, where="--profile" if getattr(args, "profile", None) else "backend.profile")
        for assignment in args.set:  # --set beats the profile
            settings.set_from_text(assignment)
    direct = {"backend.kind": args.backend, "backend.url": args.url, "model": args.model, "stage": args.stage,
              "characters": args.characters,
              "keypair": args.keypair, "window.fullscreen": args.fullscreen, "window.width": args.width,
              "window.height": args.height, "window.scale": args.scale}
    if args.url is not None and not any(a.strip().startswith("backend.ws_url") for a in args.set):
        settings.set("backend.ws_url", "")  # --url names a whole endpoint: PubSub at its port + 1
    for key, value in direct.items():
        if value is not None:
            settings.set(key, value, where="command line")
    if args.no_hud:
        settings.set("hud.show", False)
    if args.no_gamepad:
        settings.set("gamepad.enabled", False)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The display loop shares the interpreter with the input sender and the account subscription
    # threads; with CPython's default 5 ms GIL switch interval a busy thread can hold the display
    # tick back by up to 5 ms (a presented-frame interval of ~22 ms). 1 ms keeps ticks on time.
    sys.setswitchinterval(0.001)
    online = [name for name, on in (("--host", args.host), ("--join", args.join), ("--spectate", args.spectate_code))
              if on]
    if len(online) > 1:
        print(f"error: {' and '.join(online)} exclude each other", file=sys.stderr)
        return 2
    if online:
        args.mode = {"--host": "host", "--join": "join", "--spectate": "watch"}[online[0]]
        args.profile = args.profile or "local-er"  # the endpoints (host) and the program id
    if args.headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from .backends import GameSetupError
    from .joincode import JoinCodeError
    from worldmodel.shipped import ModelError
    from .stage import StageError
    try:
        settings = S.load(args.settings)
        apply_args(settings, args)
        return run(settings, args)
    except (S.SettingsError, GameSetupError, ModelError, StageError, JoinCodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def remote(settings: S.Settings):
    from . import backends
    return backends.remote_backend(settings["backend.url"], settings["backend.ws_url"], settings["backend.program_id"],
                                   ephemeral=settings["backend.ephemeral"])


def build_session(settings: S.Settings, args):
    """(session, model name, backend name) for the mode."""
    from . import backends
    from .session import LocalSession, OnlineSession, SpectateSession
    mode = args.mode
    if mode in ("host", "join", "watch"):
        return online_session(settings, args)
    if mode in ("local", "replay"):
        from solders.keypair import Keypair

        from worldmodel.shipped import resolve
        model = resolve(settings["model"])
        p1, where = backends.load_keypair(settings["keypair"])
        if mode == "replay":
            from . import replay
            session = replay.build(settings, args, backends.embedded_backend, model, (p1, Keypair()))
            return session, model.name, session.backend.name, where
        session_id = args.session if args.session is not None else settings["session_id"]
        if settings["backend.kind"] == "sim":
            from .match import Match
            from .simsession import SimSession
            match = Match.of(settings["stage"], settings["characters"].split(","))
            session = SimSession(model.cartridge, match, session_id)
            return session, model.name, session.backend.name, where
        if settings["backend.kind"] == "embedded":
            backend = backends.embedded_backend()
        else:
            backend = remote(settings)
        session_id = args.session if args.session is not None else settings["session_id"]
        from .match import Match
        match = Match.of(settings["stage"], settings["characters"].split(","))  # the program's rules use it
        start = None
        if args.stocks is not None:
            from onchain.backends.embedded import default_start_state
            from worldmodel.cartridge import FIELDS
            start = default_start_state()
            start[:, FIELDS.index("stocks")] = args.stocks  # the rules start from the fighters' stocks
        return (LocalSession(backend, model.cartridge, session_id, (p1, Keypair()), start_state=start, match=match),
                model.name, backend.name, where)
    if args.session is None:
        raise backends.GameSetupError(f"--mode {mode} needs --session ID")
    if mode == "online" and args.player is None:
        raise backends.GameSetupError("--mode online needs --player 1 or 2")
    backend = remote(settings)
    from .playout import PlayoutBuffer, PlayoutConfig
    playout = PlayoutBuffer(PlayoutConfig(margin=settings["playout.margin"]), enabled=settings["playout.enabled"])
    if mode == "online":
        key, where = backends.load_keypair(settings["keypair"])
        return (OnlineSession(backend, args.session, args.player - 1, key, args.model_id, args.wait, playout),
                f"model {args.model_id}" if args.model_id is not None else "remote", backend.name, where)
    return SpectateSession(backend, args.session, args.wait, playout), "remote", backend.name, "none (spectator)"


def player_key(settings: S.Settings, role: str):
    """(key, where) for --host / --join: --keypair (or settings' keypair) when it names a file other
    than the standard one (created if missing, so the same player can come back), else the standard
    Solana key, else a project key made on first use (onchain/sdk/keys.py default_key). `avoid`: the
    other player's key (host and guest on one machine)."""
    from onchain.sdk.keys import SOLANA_DEFAULT, default_key, read_or_create

    from .backends import GameSetupError

    def key_for(avoid=None):
        setting = settings["keypair"]
        if setting == "ephemeral":
            from solders.keypair import Keypair
            return Keypair(), "ephemeral"
        path = Path(setting).expanduser()
        if path != SOLANA_DEFAULT.expanduser():
            try:
                kp, made = read_or_create(path)
            except ValueError as e:
                raise GameSetupError(str(e)) from None
            return kp, f"{path}{' (created)' if made else ''}"
        try:
            return default_key(role, avoid)
        except ValueError as e:
            raise GameSetupError(str(e)) from None
    return key_for


def online_session(settings: S.Settings, args):
    """--host, --join CODE, --spectate CODE: (session, model name, backend name, key note)."""
    from urllib.parse import urlparse

    from . import joincode, online
    from .lobby import Lobby
    from .match import Match
    from .playout import PlayoutBuffer, PlayoutConfig
    playout = PlayoutBuffer(PlayoutConfig(margin=settings["playout.margin"]), enabled=settings["playout.enabled"])
    program_id = None
    if settings["backend.program_id"]:
        from solders.pubkey import Pubkey
        program_id = Pubkey.from_string(settings["backend.program_id"])
    match = Match.of(settings["stage"], settings["characters"].split(","))
    if args.mode == "watch":
        code = joincode.parse(args.spectate_code)
        return online.CodeSpectateSession(code, args.wait, playout, program_id), "remote", "remote (ER)", "none (spectator)"
    lobby = Lobby(settings, match, args.headless)
    if args.mode == "join":
        code = joincode.parse(args.join)
        session = online.GuestSession(code, player_key(settings, "guest"), lobby, args.wait, playout, program_id)
        return session, "host's model", "remote (ER)", "guest key"
    from worldmodel.shipped import resolve
    model = resolve(settings["model"])
    if model.source == "random" and settings["model"] != "random":  # never a random cartridge unless asked
        raise online.GameSetupError("no model in assets/models/: --model DIR, or --model random to host a random one")
    profile = settings.section(f"backend.profiles.{args.profile}")
    er_url = settings["backend.url"]
    base_url = args.base or profile["base_url"]
    if not base_url:
        raise online.GameSetupError(f"profile {args.profile} has no base chain (base_url): --host needs one")
    key, where = player_key(settings, "host")()
    net = online.ensure_stack(base_url, er_url, args.listen, profile.get("local_base"))
    if net is None and args.listen:
        online.log(f"the chain stack was already running: --listen {args.listen} applies only to a stack this "
                   "game starts (python -m onchain.localnet up --listen ADDR)")
    try:
        address = args.address or (online.lan_address() if args.listen in ("0.0.0.0", "::") else
                                   args.listen or urlparse(er_url).hostname)
        session = online.HostSession(er_url, base_url, key, model, match, args.stocks, address, args.crank, lobby,
                                     net, playout, program_id)
    except BaseException:
        if net is not None:
            net.down()
        raise
    return session, model.name, "remote (ER)", where


def run(settings: S.Settings, args) -> int:
    import pygame

    from . import render, scripts
    from .app import Game
    from .backends import GameSetupError
    from .stage import load as load_stage

    if args.headless:
        try:
            script = scripts.get(args.script)
        except ValueError as e:
            raise GameSetupError(str(e)) from None
        if args.frames < 1:
            raise GameSetupError("--frames must be at least 1")
    else:
        script = None
    pygame.display.init()
    pygame.font.init()
    pygame.display.set_caption("Melee world model on Solana")
    if (args.mode in ("local", "host") and not args.headless and settings["select_screen"]
            and args.stage is None and args.characters is None):
        from .screens import select_match
        if not select_match(settings):
            pygame.quit()
            return 0
    session, model_name, backend_name, key_note = build_session(settings, args)
    inputs = None
    game = None
    from .online import Cancelled
    try:
        try:
            session.start()
        except Cancelled:
            return 0
        from .match import Match
        match = session.match() or Match.of(settings["stage"], settings["characters"].split(","))
        stage = load_stage(match.stage)
        if not args.headless:
            from .input import Inputs
            inputs = Inputs(settings)
        game = Game(settings, session, render.Renderer(stage, match), model_name=model_name, backend_name=backend_name,
                    script=script, inputs=inputs, headless=args.headless)
        if args.headless:
            if len(session.local_players) < 2:  # a crank elsewhere drives it: say when we are listening
                view = session.view()
                print(f"[game] {args.mode} session {session.session_id} on {getattr(session.backend, 'url', '')}: "
                      f"listening at frame {view.frame if view else '?'}", file=sys.stderr, flush=True)
            summary = game.run_headless(args.frames, args.timeout, args.duration)
            if args.screenshot:
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                pygame.image.save(game.window, str(args.screenshot))
                summary["screenshot"] = str(args.screenshot)
            finish = getattr(session, "finish", None)
            if finish is not None:  # online: the session settled on the base chain
                summary["settlement"] = finish()
            print(json.dumps(summary))
            if len(session.local_players) < 2:
                return 1 if summary["timed_out"] else 0
            return 0 if summary["advanced_every_frame"] else 1
        game.status_path = args.status_json
        game.say(f"key: {key_note}  |  Esc: menu and controls, F1: HUD, F11: fullscreen")
        game.run()
        return 0
    finally:
        playout = getattr(session, "playout", None)
        if args.playout_json and playout is not None:
            args.playout_json.parent.mkdir(parents=True, exist_ok=True)
            args.playout_json.write_text(json.dumps(playout.stats(), indent=1))
        if inputs is not None:
            inputs.close()
        session.close()
        session.backend.close()
        pygame.quit()
