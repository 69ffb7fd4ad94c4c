"""settings.yaml: every option the game reads, with its default, type and help text.

The schema below is the single source: it validates the file, documents the options in
`python -m game --help`, and writes settings.yaml back (with its comments) when the player
remaps a control, so a saved file reads the same as the shipped one.
"""
from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import yaml

from onchain.backends import profiles as chain_profiles
from onchain.sdk.wire import BUTTONS

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "settings.yaml"

# Keyboard controls per player: the stick, the C-stick, a "tilt" modifier that halves the
# stick (walk, tilts) and the twelve buttons of the program's ControllerInput.
STICK_CONTROLS = ("up", "down", "left", "right", "c_up", "c_down", "c_left", "c_right", "tilt")
KEY_CONTROLS = STICK_CONTROLS + BUTTONS

# SDL game-controller names (pygame._sdl2.controller), used by the gamepad mapping.
PAD_BUTTONS = ("a", "b", "x", "y", "back", "guide", "start", "leftstick", "rightstick",
               "leftshoulder", "rightshoulder", "dpup", "dpdown", "dpleft", "dpright")
PAD_AXES = ("leftx", "lefty", "rightx", "righty", "lefttrigger", "righttrigger")
# Stages and characters: worldmodel.stages (Slippi ids, the rules' table) names them.
STAGES = ("final_destination", "battlefield", "dream_land", "fountain_of_dreams", "pokemon_stadium", "yoshis_story")
CHARACTERS = (
    "captain_falcon", "donkey_kong", "fox", "game_and_watch", "kirby", "bowser", "link", "luigi",
    "mario", "marth", "mewtwo", "ness", "peach", "pikachu", "ice_climbers", "jigglypuff", "samus",
    "yoshi", "zelda", "sheik", "falco", "young_link", "dr_mario", "roy", "pichu", "ganondorf",
)


class SettingsError(ValueError):
    """settings.yaml (or a --set override) does not follow the schema; the message says where."""


@dataclasses.dataclass(frozen=True)
class Option:
    key: str  # dotted path in the YAML file
    default: Any
    kind: str  # str, int, float, bool, key, pad_button, pad_axis, choice
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None


P1_KEYS = dict(up="w", down="s", left="a", right="d", c_up="t", c_down="g", c_left="f", c_right="h",
               tilt="left alt", A="q", B="e", X="space", Y="r", Z="z", L="left shift", R="c",
               START="1", D_UP="", D_DOWN="", D_LEFT="", D_RIGHT="")
P2_KEYS = dict(up="up", down="down", left="left", right="right", c_up="[8]", c_down="[2]",
               c_left="[4]", c_right="[6]", tilt="right alt", A="k", B="l", X="o", Y="p", Z="i",
               L="j", R="u", START="0", D_UP="", D_DOWN="", D_LEFT="", D_RIGHT="")
PAD_BUTTON_MAP = dict(A="a", B="b", X="x", Y="y", Z="rightshoulder", L="", R="", START="start",
                      D_UP="dpup", D_DOWN="dpdown", D_LEFT="dpleft", D_RIGHT="dpright")
PROFILE_HELP = dict(
    kind="embedded = the program in an in-process LiteSVM; remote = a validator over RPC + WebSocket",
    url="JSON-RPC endpoint clients play against (for an ER profile: the ER)",
    ws_url="PubSub endpoint; empty = url with the port + 1",
    base_url="the base chain, where models are uploaded and sessions created, delegated and closed",
    ephemeral="url is an ER (close = end_session: commit + undelegate)",
    program_id="the world-model program's address there; empty = the SDK's default",
    local_base="the base chain of a stack this machine starts for the profile (onchain.localnet up --profile, "
               "--host): own (onchain.localnet.basenode) or agave (solana-test-validator, make setup-validator)")
PAD_AXIS_MAP = dict(stick_x="leftx", stick_y="lefty", cstick_x="rightx", cstick_y="righty",
                    l="lefttrigger", r="righttrigger")


def _schema() -> list[Option]:
    o = [
        Option("backend.kind", "embedded", "choice",
               "local mode: embedded = the compiled program in an in-process LiteSVM (no validator); "
               "remote = a validator or MagicBlock ER at backend.url; sim = no chain: the integer reference "
               "plus the rules layer in Python (worldmodel.sim), KOs and game end included",
               ("embedded", "remote", "sim")),
        Option("backend.url", "http://127.0.0.1:8899", "str",
               "RPC endpoint for remote backends (online, spectate, local with backend.kind=remote)"),
        Option("backend.ws_url", "", "str", "WebSocket endpoint; empty = derived from backend.url (port + 1)"),
        Option("backend.program_id", "", "str",
               "the world-model program's address on a remote endpoint; empty = the SDK's default"),
        Option("backend.ephemeral", False, "bool",
               "backend.url is a MagicBlock ER holding delegated sessions: closing a session there ends it "
               "(commit + undelegate) instead of deleting it"),
        Option("backend.profile", "", "choice",
               "a chain profile below (backend.profiles) that sets kind, url, ws_url, program_id and ephemeral; "
               "empty = use those keys as written. --profile NAME picks one for a run",
               ("",) + chain_profiles.names()),
    ]
    # The chain profiles: the one place the game and the onchain tools (onchain/backends/profiles.py) read them.
    for name, profile in chain_profiles.DEFAULTS.items():
        for key in chain_profiles.KEYS:
            kind = {"kind": "choice", "ephemeral": "bool", "local_base": "choice"}.get(key, "str")
            choices = {"kind": ("embedded", "remote"), "local_base": ("", "own", "agave")}.get(key, ())
            o.append(Option(f"backend.profiles.{name}.{key}", profile[key], kind, PROFILE_HELP[key], choices))
    o += [
        Option("keypair", "~/.config/solana/id.json", "str",
               "player 1's signing key (Solana CLI JSON); 'ephemeral' = a fresh key every run. "
               "A missing file falls back to an ephemeral key with a warning"),
        Option("model", "auto", "str",
               "model directory, or a name under assets/models/; auto = the first shipped model, "
               "or a random micro cartridge (seed 0) when assets/models/ holds none"),
        Option("stage", "final_destination", "choice", "stage of a local game (also picked on the select screen)",
               STAGES),
        Option("characters", "fox,fox", "characters",
               "player 1's and player 2's characters, comma-separated (names as in worldmodel/stages.py)"),
        Option("select_screen", True, "bool",
               "show the stage and character select screen before an interactive local game"),
        Option("session_id", 1, "int", "session id used by local mode (online/spectate take --session)",
               minimum=0),
        Option("window.width", 1280, "int", "window width in pixels", minimum=320),
        Option("window.height", 720, "int", "window height in pixels", minimum=180),
        Option("window.fullscreen", False, "bool", "start in fullscreen (F11 toggles)"),
        Option("window.scale", 0, "int",
               "integer scale of the 640x360 picture; 0 = the largest that fits the window", minimum=0, maximum=16),
        Option("window.realtime", True, "bool",
               "ask the OS for a real-time (SCHED_RR) priority for the display thread where the user may "
               "(Linux: root, CAP_SYS_NICE or an RLIMIT_RTPRIO > 0), so frames show on time on a busy "
               "machine; false = normal priority"),
        Option("hud.show", True, "bool", "show the HUD (F1 toggles)"),
        Option("playout.enabled", True, "bool",
               "online/spectate: show frames at a steady 60 Hz a few frames behind the newest, the delay "
               "chosen from the measured arrival jitter (game/playout.py); false = draw the newest frame"),
        Option("playout.margin", 0.5, "float",
               "frames of delay added on top of the p99 arrival jitter", minimum=0.0, maximum=10.0),
    ]
    for item, text in (("frame", "frame number"), ("fps", "render frames per second"),
                       ("cu", "compute units per inferred frame"), ("ms", "inference milliseconds per frame"),
                       ("latency", "input-to-frame latency in ms"), ("model", "model name"),
                       ("backend", "backend name")):
        o.append(Option(f"hud.{item}", True, "bool", f"HUD line: {text}"))
    for player, keys in (("p1", P1_KEYS), ("p2", P2_KEYS)):
        for control in KEY_CONTROLS:
            o.append(Option(f"keyboard.{player}.{control}", keys[control], "key",
                            f"{player.upper()} key for {control} (pygame key name; empty = unbound)"))
    o += [
        Option("gamepad.enabled", True, "bool", "read gamepads through SDL's game-controller API (hot-plug)"),
        Option("gamepad.raw_fallback", True, "bool",
               "when SDL sees no gamepad, read raw Linux gamepads with the `inputs` package"),
        Option("gamepad.dead_zone", 0.2, "float", "stick dead zone (fraction of full tilt)", minimum=0.0, maximum=0.9),
        Option("gamepad.trigger_dead_zone", 0.05, "float", "analog trigger dead zone", minimum=0.0, maximum=0.9),
        Option("gamepad.digital_trigger", 0.9, "float",
               "trigger travel that also presses the digital L/R button", minimum=0.0, maximum=1.0),
    ]
    for button in BUTTONS:
        o.append(Option(f"gamepad.buttons.{button}", PAD_BUTTON_MAP[button], "pad_button",
                        f"SDL controller button for {button} (empty = none)"))
    for axis, name in PAD_AXIS_MAP.items():
        o.append(Option(f"gamepad.axes.{axis}", name, "pad_axis", f"SDL controller axis for {axis}"))
    return o


SCHEMA = _schema()
BY_KEY = {opt.key: opt for opt in SCHEMA}


def check(opt: Option, value: Any, where: str) -> Any:
    """The value converted to the option's type, or SettingsError naming `where`."""
    def fail(why: str) -> SettingsError:
        return SettingsError(f"{where}: {opt.key} = {value!r}: {why}")

    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise fail("expected true or false")
        return value
    if opt.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"expected a number ({opt.kind})")
        if opt.kind == "int" and value != int(value):
            raise fail("expected a whole number")
        value = int(value) if opt.kind == "int" else float(value)
        if opt.minimum is not None and value < opt.minimum:
            raise fail(f"must be >= {opt.minimum}")
        if opt.maximum is not None and value > opt.maximum:
            raise fail(f"must be <= {opt.maximum}")
        return value
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise fail("expected a string")
    if opt.kind == "choice" and value not in opt.choices:
        raise fail(f"expected one of {', '.join(opt.choices)}")
    if opt.kind == "key" and value:
        try:
            key_code(value)
        except ValueError:
            raise fail("unknown key name (use pygame's names, e.g. 'a', 'left shift', 'up', '[8]')") from None
    if opt.kind == "pad_button" and value and value not in PAD_BUTTONS:
        raise fail(f"expected one of {', '.join(PAD_BUTTONS)} or empty")
    if opt.kind == "characters":
        names = [n.strip() for n in value.split(",")]
        if len(names) != 2 or any(n not in CHARACTERS for n in names):
            raise fail(f"expected two of {', '.join(CHARACTERS)}, comma-separated")
        return ",".join(names)
    if opt.kind == "pad_axis" and value not in PAD_AXES:
        raise fail(f"expected one of {', '.join(PAD_AXES)}")
    return value


def key_code(name: str) -> int:
    """pygame's key code for a key name (the name table needs no display, so hush its warning)."""
    import warnings

    import pygame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pygame.key.key_code(name)


def _flatten(tree: Any, prefix: str, out: dict, where: str) -> None:
    if not isinstance(tree, dict):
        raise SettingsError(f"{where}: {prefix or 'the file'} must be a mapping, got {type(tree).__name__}")
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if key in BY_KEY:
            out[key] = v
        elif any(o.startswith(key + ".") for o in BY_KEY):
            _flatten(v, key, out, where)
        else:
            raise SettingsError(f"{where}: unknown setting {key!r} (see `python -m game --help`)")


class Settings:
    def __init__(self, values: dict[str, Any] | None = None, path: Path | None = None):
        self.values = {o.key: o.default for o in SCHEMA}
        self.path = path
        for k, v in (values or {}).items():
            self.set(k, v, where=str(path or "settings"))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def set(self, key: str, value: Any, where: str = "settings") -> None:
        if key not in BY_KEY:
            raise SettingsError(f"{where}: unknown setting {key!r} (see `python -m game --help`)")
        self.values[key] = check(BY_KEY[key], value, where)

    def set_from_text(self, assignment: str) -> None:
        """`key=value` from the command line; the value is parsed as YAML (true, 3, 0.5, text)."""
        key, sep, text = assignment.partition("=")
        if not sep:
            raise SettingsError(f"--set {assignment!r}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError as e:
            raise SettingsError(f"--set {assignment!r}: {e}") from None
        if BY_KEY.get(key.strip()) and BY_KEY[key.strip()].kind in ("str", "key", "choice", "pad_button", "pad_axis"):
            value = text  # keep names like '1' or 'on' as text
        self.set(key.strip(), value, where="--set")

    def apply_profile(self, name: str, where: str = "--profile") -> None:
        """Copy chain profile `name` (backend.profiles.NAME) onto backend.kind/url/ws_url/program_id/ephemeral."""
        if name not in chain_profiles.names():
            raise SettingsError(f"{where}: unknown profile {name!r} (known: {', '.join(chain_profiles.names())})")
        profile = self.section(f"backend.profiles.{name}")
        for key in ("kind", "url", "ws_url", "program_id", "ephemeral"):
            if key == "url" and not profile[key]:
                continue  # the embedded profile has no endpoint: keep backend.url for online/spectate
            self.set(f"backend.{key}", profile[key], where=where)
        self.set("backend.profile", name, where=where)

    def section(self, prefix: str) -> dict[str, Any]:
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.values.items() if k.startswith(prefix + ".")}

    def save(self, path: Path | None = None) -> Path:
        path = Path(path or self.path or DEFAULT_PATH)
        path.write_text(dump(self.values))
        return path


def load(path: str | Path | None = None) -> Settings:
    """settings.yaml (defaults for anything it leaves out); a missing file means all defaults."""
    path = Path(path) if path else DEFAULT_PATH
    if not path.exists():
        return Settings(path=path)
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SettingsError(f"{path}: not valid YAML: {e}") from None
    flat: dict[str, Any] = {}
    _flatten(tree, "", flat, str(path))
    return Settings(flat, path=path)


HEADER = """\
# Settings of the game client (`python -m game`). Every option is documented here and in
# `python -m game --help`; command-line flags and `--set key=value` override this file for
# one run. The controls screen (Esc -> Controls) rewrites this file when you remap a key.
"""


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).split("\n...")[0].strip()


# Bindings are many and alike: the file explains each group once instead of every line.
GROUP_HELP = {
    # the first profile documents each key; the others say where to look
    **{f"backend.profiles.{name}": f"profile {name!r} (keys as in {chain_profiles.names()[0]!r})"
       for name in chain_profiles.names()[1:]},
    "keyboard.p1": "player 1's keys (pygame key names: 'a', 'left shift', 'up', '[8]' = keypad 8; '' = unbound)",
    "keyboard.p2": "player 2's keys",
    "gamepad.buttons": "program button <- SDL controller button (a b x y back guide start leftstick "
                       "rightstick leftshoulder rightshoulder dpup dpdown dpleft dpright; '' = none)",
    "gamepad.axes": "ControllerInput axis <- SDL controller axis (leftx lefty rightx righty lefttrigger righttrigger)",
}


def _comment(indent: str, text: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, 96 - len(indent))]


def dump(values: dict[str, Any]) -> str:
    """The YAML text of `values`, nested as the schema is, each option under its help comment."""
    lines = [HEADER.rstrip("\n")]
    open_path: list[str] = []
    last_top = ""
    for opt in SCHEMA:
        *parents, leaf = opt.key.split(".")
        common = 0
        while common < min(len(parents), len(open_path)) and parents[common] == open_path[common]:
            common += 1
        top = parents[0] if parents else leaf
        if top != last_top:
            lines.append("")
        last_top = top
        for depth in range(common, len(parents)):
            lines.append("  " * depth + f"{parents[depth]}:")
        group = ".".join(parents)
        indent = "  " * len(parents)
        if group in GROUP_HELP:
            if parents != open_path:
                lines += _comment(indent, GROUP_HELP[group])
        else:
            lines += _comment(indent, opt.help)
        open_path = parents
        lines.append(f"{indent}{leaf}: {_scalar(values[opt.key])}")
    return "\n".join(lines) + "\n"


def describe() -> str:
    """Every settings.yaml option with default and help, for --help."""
    rows = []
    for opt in SCHEMA:
        extra = f" [{'|'.join(opt.choices)}]" if opt.choices else ""
        rows.append(f"  {opt.key} = {_scalar(opt.default)}{extra}\n      {opt.help}")
    return "\n".join(rows)
