"""Where each player's ControllerInput comes from this frame: their gamepad if one is
plugged in (SDL first, raw evdev when SDL sees none), otherwise their keyboard keys."""
from __future__ import annotations

import pygame

from onchain.sdk.wire import ControllerInput

from .. import settings as S
from .gamepad import Gamepads
from .keyboard import Keyboard
from .rawpad import RawPads


class Inputs:
    def __init__(self, settings: S.Settings, gamepads: bool | None = None):
        enabled = settings["gamepad.enabled"] if gamepads is None else gamepads
        self.keyboard = Keyboard(settings)
        self.pads = Gamepads(settings, enabled=enabled)
        self.raw: RawPads | None = None
        if enabled and settings["gamepad.raw_fallback"] and not self.pads.pads:
            self.raw = RawPads(settings["gamepad.dead_zone"], settings["gamepad.trigger_dead_zone"])

    def reload(self, settings: S.Settings) -> None:
        self.keyboard.reload(settings)
        self.pads.reload(settings)

    def handle(self, event: pygame.event.Event) -> None:
        self.keyboard.handle(event)
        self.pads.handle(event)

    def source(self, player: int) -> str:
        pad = self.pads.pad_for(player)
        if pad is not None:
            return f"pad: {pad.name}"
        if self.raw is not None and player < len(self.raw.states):
            return f"raw pad: {self.raw.names[player]}"
        return "keyboard"

    def read(self, player: int) -> ControllerInput:
        pad = self.pads.read(player)
        if pad is None and self.raw is not None and not self.pads.pads:
            pad = self.raw.read(player)
        return pad if pad is not None else self.keyboard.read(player)

    def messages(self) -> list[str]:
        out, self.pads.messages = self.pads.messages, []
        return out

    def close(self) -> None:
        self.pads.close()
