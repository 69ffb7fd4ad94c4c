"""Both players on one keyboard.

Keys are tracked from KEYDOWN/KEYUP events rather than pygame.key.get_pressed(), so the
state is exactly what the event queue said (also under the dummy video driver, where tests
post events) and a focus loss can release everything at once.
"""
from __future__ import annotations

import pygame

from onchain.sdk.wire import BUTTONS, ControllerInput

from .. import settings as S
from . import mapping


class Keyboard:
    def __init__(self, settings: S.Settings):
        self.pressed: set[int] = set()
        self.bindings: list[dict[str, int | None]] = []
        self.reload(settings)

    def reload(self, settings: S.Settings) -> None:
        """Resolve key names once (after a remap too)."""
        self.bindings = []
        for player in ("p1", "p2"):
            names = settings.section(f"keyboard.{player}")
            self.bindings.append({c: (S.key_code(n) if n else None) for c, n in names.items()})

    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.KEYDOWN:
            self.pressed.add(event.key)
        elif event.type == pygame.KEYUP:
            self.pressed.discard(event.key)
        elif event.type in (pygame.WINDOWFOCUSLOST, pygame.WINDOWHIDDEN):
            self.pressed.clear()  # a key released while unfocused never sends KEYUP

    def _down(self, player: int, control: str) -> bool:
        code = self.bindings[player][control]
        return code is not None and code in self.pressed

    def read(self, player: int) -> ControllerInput:
        d = lambda c: self._down(player, c)  # noqa: E731
        tilt = d("tilt")
        stick = mapping.digital_stick(d("up"), d("down"), d("left"), d("right"), tilt)
        cstick = mapping.digital_stick(d("c_up"), d("c_down"), d("c_left"), d("c_right"))
        return mapping.controller(stick, cstick, buttons={b: d(b) for b in BUTTONS})

    def key_for(self, player: int, control: str) -> str:
        code = self.bindings[player][control]
        return pygame.key.name(code) if code is not None else ""
