"""Gamepads through SDL2's game-controller API (pygame._sdl2.controller), with hot-plug.

SDL maps every known pad (Xbox, PlayStation, Switch, GameCube adapters with a mapping) onto
one layout: axes leftx lefty rightx righty lefttrigger righttrigger, buttons a b x y ...
A pad plugged in takes over the first player without a pad (it wins over that player's
keyboard); unplugging it hands the player back to the keyboard.
"""
from __future__ import annotations

import dataclasses

import pygame
from pygame._sdl2 import controller as sdl_controller

from onchain.sdk.wire import BUTTONS, ControllerInput

from .. import settings as S
from . import mapping

AXIS_INDEX = {name: i for i, name in enumerate(S.PAD_AXES)}  # SDL_CONTROLLER_AXIS_* order
BUTTON_INDEX = {name: i for i, name in enumerate(S.PAD_BUTTONS)}  # SDL_CONTROLLER_BUTTON_* order
AXIS_FULL = 32767.0


@dataclasses.dataclass
class Pad:
    instance_id: int
    name: str
    player: int
    device: object  # sdl_controller.Controller


class GamepadMapping:
    def __init__(self, settings: S.Settings):
        self.dead_zone = settings["gamepad.dead_zone"]
        self.trigger_dead_zone = settings["gamepad.trigger_dead_zone"]
        self.digital_trigger = settings["gamepad.digital_trigger"]
        self.buttons = {b: BUTTON_INDEX[n] for b, n in settings.section("gamepad.buttons").items() if n}
        self.axes = {a: AXIS_INDEX[n] for a, n in settings.section("gamepad.axes").items()}

    def read(self, get_axis, get_button) -> ControllerInput:
        """get_axis(index) -> raw SDL value (-32768..32767; triggers 0..32767), get_button(index) -> bool."""
        def axis(name: str) -> float:
            return max(-1.0, get_axis(self.axes[name]) / AXIS_FULL)
        # SDL's y axes point down; Melee's up is positive.
        stick = (mapping.stick_axis(axis("stick_x"), self.dead_zone),
                 mapping.stick_axis(-axis("stick_y"), self.dead_zone))
        cstick = (mapping.stick_axis(axis("cstick_x"), self.dead_zone),
                  mapping.stick_axis(-axis("cstick_y"), self.dead_zone))
        lv, rv = max(0.0, axis("l")), max(0.0, axis("r"))
        pressed = {b: bool(get_button(i)) for b, i in self.buttons.items()}
        pressed["L"] = pressed.get("L", False) or lv >= self.digital_trigger
        pressed["R"] = pressed.get("R", False) or rv >= self.digital_trigger
        return mapping.controller(stick, cstick, mapping.trigger_axis(lv, self.trigger_dead_zone),
                                  mapping.trigger_axis(rv, self.trigger_dead_zone),
                                  {b: pressed.get(b, False) for b in BUTTONS})


class Gamepads:
    """Open SDL game controllers and which player each one drives."""

    def __init__(self, settings: S.Settings, enabled: bool = True):
        self.mapping = GamepadMapping(settings)
        self.pads: dict[int, Pad] = {}
        self.enabled = enabled
        self.messages: list[str] = []  # "P1: Xbox pad connected" etc., shown briefly on screen
        if not enabled:
            return
        pygame.joystick.init()
        sdl_controller.init()
        for index in range(pygame.joystick.get_count()):
            self._open(index)

    def reload(self, settings: S.Settings) -> None:
        self.mapping = GamepadMapping(settings)

    def _open(self, device_index: int) -> None:
        try:
            if not sdl_controller.is_controller(device_index):
                return
            device = sdl_controller.Controller(device_index)
            instance_id = device.as_joystick().get_instance_id()
        except (pygame.error, IndexError) as e:  # unplugged between the event and the open
            self.messages.append(f"gamepad {device_index} could not be opened: {e}")
            return
        if instance_id in self.pads:
            return
        taken = {p.player for p in self.pads.values()}
        player = next((p for p in (0, 1) if p not in taken), None)
        if player is None:
            self.messages.append(f"{device.name}: both players already have a pad")
            device.quit()
            return
        self.pads[instance_id] = Pad(instance_id, device.name, player, device)
        self.messages.append(f"P{player + 1}: {device.name} connected")

    def handle(self, event: pygame.event.Event) -> None:
        if not self.enabled:
            return
        if event.type == pygame.CONTROLLERDEVICEADDED:
            self._open(event.device_index)
        elif event.type == pygame.CONTROLLERDEVICEREMOVED:
            pad = self.pads.pop(event.instance_id, None)
            if pad is not None:
                self.messages.append(f"P{pad.player + 1}: {pad.name} unplugged, keyboard again")
                try:
                    pad.device.quit()
                except pygame.error:
                    pass

    def pad_for(self, player: int) -> Pad | None:
        return next((p for p in self.pads.values() if p.player == player), None)

    def read(self, player: int) -> ControllerInput | None:
        pad = self.pad_for(player)
        if pad is None:
            return None
        try:
            return self.mapping.read(pad.device.get_axis, pad.device.get_button)
        except pygame.error:  # removed while reading; the REMOVED event follows
            return None

    def close(self) -> None:
        for pad in self.pads.values():
            try:
                pad.device.quit()
            except pygame.error:
                pass
        self.pads.clear()
