"""Raw Linux gamepads through the `inputs` package, for pads SDL does not see.

`inputs` reads evdev nodes (/dev/input/event*) directly. Its read() blocks, so each pad gets
a daemon thread that folds events into a small state; the game loop only copies the state.
`inputs` does not report axis ranges, so sticks are taken as signed 16-bit (Xbox-style pads,
the common case) and triggers scale by the largest value seen so far (255 or 1023).
"""
from __future__ import annotations

import threading

from onchain.sdk.wire import BUTTONS, ControllerInput

from . import mapping

# evdev code -> program button (the usual Linux gamepad layout).
BUTTON_CODES = {"BTN_SOUTH": "A", "BTN_EAST": "B", "BTN_WEST": "X", "BTN_NORTH": "Y",
                "BTN_TR": "Z", "BTN_START": "START", "BTN_TL2": "L", "BTN_TR2": "R"}
STICK_CODES = {"ABS_X": "stick_x", "ABS_Y": "stick_y", "ABS_RX": "cstick_x", "ABS_RY": "cstick_y"}
TRIGGER_CODES = {"ABS_Z": "l", "ABS_RZ": "r"}


class RawPadState:
    """What one raw pad reports, updated event by event (testable without a device)."""

    def __init__(self, dead_zone: float = 0.2, trigger_dead_zone: float = 0.05):
        self.dead_zone, self.trigger_dead_zone = dead_zone, trigger_dead_zone
        self.axes = {name: 0.0 for name in STICK_CODES.values()}
        self.triggers = {"l": 0.0, "r": 0.0}
        self.trigger_max = {"l": 255, "r": 255}
        self.buttons = {b: False for b in BUTTONS}
        self.hat = [0, 0]
        self.lock = threading.Lock()

    def apply(self, ev_type: str, code: str, value: int) -> None:
        with self.lock:
            if ev_type == "Key" and code in BUTTON_CODES:
                self.buttons[BUTTON_CODES[code]] = bool(value)
            elif ev_type == "Absolute" and code in STICK_CODES:
                self.axes[STICK_CODES[code]] = value / 32767.0
            elif ev_type == "Absolute" and code in TRIGGER_CODES:
                side = TRIGGER_CODES[code]
                self.trigger_max[side] = max(self.trigger_max[side], value)
                self.triggers[side] = value / self.trigger_max[side]
            elif ev_type == "Absolute" and code in ("ABS_HAT0X", "ABS_HAT0Y"):
                self.hat[code == "ABS_HAT0Y"] = max(-1, min(1, value))

    def read(self) -> ControllerInput:
        with self.lock:
            a, t = dict(self.axes), dict(self.triggers)
            pressed = dict(self.buttons)
            pressed.update(D_LEFT=self.hat[0] < 0, D_RIGHT=self.hat[0] > 0,
                           D_UP=self.hat[1] < 0, D_DOWN=self.hat[1] > 0)
        stick = (mapping.stick_axis(a["stick_x"], self.dead_zone), mapping.stick_axis(-a["stick_y"], self.dead_zone))
        cstick = (mapping.stick_axis(a["cstick_x"], self.dead_zone), mapping.stick_axis(-a["cstick_y"], self.dead_zone))
        return mapping.controller(stick, cstick, mapping.trigger_axis(t["l"], self.trigger_dead_zone),
                                  mapping.trigger_axis(t["r"], self.trigger_dead_zone), pressed)


class RawPads:
    """Threads reading up to two raw pads; players without one read None."""

    def __init__(self, dead_zone: float, trigger_dead_zone: float):
        self.states: list[RawPadState] = []
        self.names: list[str] = []
        self.error: str | None = None
        try:
            import inputs  # scans /dev/input on import
            pads = list(inputs.devices.gamepads)[:2]
        except Exception as e:  # no evdev access, or not Linux: the keyboard still works
            self.error = f"raw gamepads unavailable: {e}"
            return
        for pad in pads:
            state = RawPadState(dead_zone, trigger_dead_zone)
            self.states.append(state)
            self.names.append(pad.name)
            threading.Thread(target=self._pump, args=(pad, state), daemon=True,
                             name=f"rawpad-{pad.name}").start()

    @staticmethod
    def _pump(pad, state: RawPadState) -> None:
        try:
            while True:
                for ev in pad.read():
                    state.apply(ev.ev_type, ev.code, ev.state)
        except Exception:  # unplugged: leave the last state neutral
            with state.lock:
                state.axes = {k: 0.0 for k in state.axes}
                state.triggers = {"l": 0.0, "r": 0.0}
                state.buttons = {b: False for b in state.buttons}

    def read(self, player: int) -> ControllerInput | None:
        return self.states[player].read() if player < len(self.states) else None
