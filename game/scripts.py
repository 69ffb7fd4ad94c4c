"""Scripted inputs for headless runs: a function frame -> (player 1, player 2) ControllerInputs.

The scripts themselves (`demo`, `idle`, `random`, `ko`) are worldmodel.scripts, as controller
rows, so the model's tools run them too; here each row becomes the program's ControllerInput.
"""
from __future__ import annotations

from typing import Callable

from onchain.sdk.wire import ControllerInput
from worldmodel import scripts as rows

Script = Callable[[int], tuple[ControllerInput, ControllerInput]]


def get(name: str) -> Script:
    """The script `name` (ValueError when unknown), its rows as validated ControllerInputs."""
    script = rows.get(name)

    def controllers(frame: int) -> tuple[ControllerInput, ControllerInput]:
        a, b = script(frame)
        return ControllerInput(*a[:7]).validate(), ControllerInput(*b[:7]).validate()
    return controllers
