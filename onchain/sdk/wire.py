"""The wire codec: what a client sends and reads every frame.

ControllerInput is the program's controller format (onchain/program/src/state.rs), 8 bytes:

    0 i8 stick_x   1 i8 stick_y   2 i8 cstick_x   3 i8 cstick_y   (-127..127; -128 invalid)
    4 u8 l         5 u8 r                                         (0..255 analog triggers)
    6 u16 buttons  bit 0 A, 1 B, 2 X, 3 Y, 4 Z, 5 L, 6 R, 7 Start,
                   8 D-up, 9 D-down, 10 D-left, 11 D-right; bits 12..15 must be 0

SessionView is a decoded SessionState account, the frame a client draws; its byte layout
and decoder (decode_session) are in onchain.sdk.accounts with every other account's.
"""
from __future__ import annotations

import dataclasses
import struct

from solders.pubkey import Pubkey

BUTTONS = ("A", "B", "X", "Y", "Z", "L", "R", "START", "D_UP", "D_DOWN", "D_LEFT", "D_RIGHT")
BUTTON_BIT = {name: 1 << i for i, name in enumerate(BUTTONS)}
VALID_BUTTONS = (1 << len(BUTTONS)) - 1
CONTROLLER_LEN = 8

STATUS_WAITING, STATUS_ACTIVE, STATUS_ENDED = 0, 1, 2
STATUS_NAMES = {STATUS_WAITING: "waiting", STATUS_ACTIVE: "active", STATUS_ENDED: "ended"}


class InvalidInput(ValueError):
    """A controller value outside the program's accepted range."""


@dataclasses.dataclass(frozen=True)
class ControllerInput:
    stick_x: int = 0
    stick_y: int = 0
    cstick_x: int = 0
    cstick_y: int = 0
    l: int = 0
    r: int = 0
    buttons: int = 0

    def validate(self) -> "ControllerInput":
        for name in ("stick_x", "stick_y", "cstick_x", "cstick_y"):
            v = getattr(self, name)
            if not -127 <= v <= 127:
                raise InvalidInput(f"{name}={v} outside -127..127")
        for name in ("l", "r"):
            v = getattr(self, name)
            if not 0 <= v <= 255:
                raise InvalidInput(f"{name}={v} outside 0..255")
        if not 0 <= self.buttons <= VALID_BUTTONS:
            raise InvalidInput(f"buttons=0x{self.buttons:x} has bits outside 0x{VALID_BUTTONS:x}")
        return self

    def encode(self) -> bytes:
        self.validate()
        return struct.pack("<bbbbBBH", self.stick_x, self.stick_y, self.cstick_x, self.cstick_y,
                           self.l, self.r, self.buttons)

    @classmethod
    def decode(cls, data: bytes) -> "ControllerInput":
        if len(data) < CONTROLLER_LEN:
            raise InvalidInput(f"controller input needs {CONTROLLER_LEN} bytes, got {len(data)}")
        return cls(*struct.unpack_from("<bbbbBBH", data, 0))

    def pressed(self, button: str) -> bool:
        return bool(self.buttons & BUTTON_BIT[button])

    def as_row(self) -> list[int]:
        """The (8,) row the integer reference takes (worldmodel.intref ctrl[p])."""
        return [self.stick_x, self.stick_y, self.cstick_x, self.cstick_y, self.l, self.r, self.buttons, 0]


NEUTRAL = ControllerInput()


@dataclasses.dataclass(frozen=True)
class SessionView:
    """A decoded SessionState account (see onchain.sdk.accounts for the byte layout)."""
    session_id: int
    model_id: int
    status: int
    frame: int
    players: tuple[Pubkey, Pubkey]
    last_input_frame: tuple[int, int]
    last_active: int  # Clock unix_timestamp (seconds) of the last create / join / computed frame
    fighters: tuple[tuple[int, ...], tuple[int, ...]]  # (2, 16) i16, worldmodel.cartridge.FIELDS
    validator: Pubkey = Pubkey.default()  # the ER validator it may be delegated to (default: none)
    crank_key: Pubkey = Pubkey.default()  # who may crank besides the players (default: nobody)
    stage_id: int = 32  # Slippi stage id (worldmodel/stages.py)
    characters: tuple[int, int] = (2, 2)  # Slippi character ids
    rules: bytes = bytes(40)  # the rules' state (worldmodel/rules.py; game/match.decode_rules)

    def field(self, player: int, name: str) -> int:
        from worldmodel.cartridge import FIELDS
        return self.fighters[player][FIELDS.index(name)]
