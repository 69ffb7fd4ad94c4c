"""Input mapping: keyboard events and a virtual SDL game controller (hot-plug), down to the
bytes the SDK's codec sends."""
import ctypes
import glob
import os
import struct

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame  # noqa: E402
import pytest  # noqa: E402

from game import settings as S  # noqa: E402
from game.input import Inputs, mapping  # noqa: E402
from game.input.rawpad import RawPadState  # noqa: E402
from onchain.sdk.wire import BUTTON_BIT, CONTROLLER_LEN, ControllerInput, InvalidInput  # noqa: E402

# SDL_JoystickType SDL_JOYSTICK_TYPE_GAMECONTROLLER; a virtual pad with the standard layout.
SDL_JOYSTICK_TYPE_GAMECONTROLLER = 1
AXES, BUTTONS = 6, 15


class VirtualPad:
    """An SDL virtual joystick (SDL_JoystickAttachVirtual, SDL >= 2.0.14) in the SDL library
    pygame itself loaded, so pygame sees it as a real game controller and sends hot-plug events."""

    sdl = None

    @classmethod
    def library(cls):
        if cls.sdl is None:
            here = os.path.join(os.path.dirname(pygame.__file__), "..", "pygame.libs")
            found = glob.glob(os.path.join(here, "libSDL2-2*"))
            assert found, "pygame's bundled SDL2 not found; cannot create a virtual joystick"
            sdl = ctypes.CDLL(found[0])
            sdl.SDL_JoystickFromInstanceID.restype = ctypes.c_void_p
            sdl.SDL_JoystickFromInstanceID.argtypes = [ctypes.c_int32]
            sdl.SDL_JoystickSetVirtualAxis.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int16]
            sdl.SDL_JoystickSetVirtualButton.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint8]
            sdl.SDL_JoystickInstanceID.argtypes = [ctypes.c_void_p]
            sdl.SDL_JoystickOpen.restype = ctypes.c_void_p
            sdl.SDL_JoystickClose.argtypes = [ctypes.c_void_p]
            cls.sdl = sdl
        return cls.sdl

    def __init__(self):
        sdl = self.library()
        self.index = sdl.SDL_JoystickAttachVirtual(SDL_JOYSTICK_TYPE_GAMECONTROLLER, AXES, BUTTONS, 0)
        assert self.index >= 0, "SDL_JoystickAttachVirtual failed"
        self.handle = sdl.SDL_JoystickOpen(self.index)  # our own reference, to set values
        self.instance_id = sdl.SDL_JoystickInstanceID(self.handle)
        for trigger in (4, 5):  # a virtual axis rests at 0, which SDL reads as a half-pressed trigger
            self.axis(trigger, -32768)

    def axis(self, i: int, value: int) -> None:
        self.sdl.SDL_JoystickSetVirtualAxis(self.handle, i, value)

    def button(self, i: int, down: bool) -> None:
        self.sdl.SDL_JoystickSetVirtualButton(self.handle, i, int(down))

    def unplug(self) -> None:
        self.sdl.SDL_JoystickClose(self.handle)
        # SDL_JoystickDetachVirtual takes a device index; find ours by instance id.
        for idx in range(self.sdl.SDL_NumJoysticks()):
            if self.sdl.SDL_JoystickGetDeviceInstanceID(idx) == self.instance_id:
                assert self.sdl.SDL_JoystickDetachVirtual(idx) == 0
                return
        raise AssertionError("virtual pad not found to unplug")


@pytest.fixture
def sdl():
    pygame.display.init()
    pygame.joystick.init()
    yield
    pygame.quit()


def pump(inputs: Inputs) -> None:
    pygame.event.pump()
    for event in pygame.event.get():
        inputs.handle(event)


def press(inputs: Inputs, *names: str, up: bool = False) -> None:
    for name in names:
        pygame.event.post(pygame.event.Event(pygame.KEYUP if up else pygame.KEYDOWN, key=S.key_code(name)))
    pump(inputs)


def test_keyboard_both_players(sdl):
    inputs = Inputs(S.Settings(), gamepads=False)
    assert inputs.read(0) == ControllerInput() and inputs.read(1) == ControllerInput()
    press(inputs, "d", "space", "left shift")  # P1 right, X (jump), L
    p1 = inputs.read(0)
    assert (p1.stick_x, p1.stick_y) == (127, 0)
    assert p1.buttons == BUTTON_BIT["X"] | BUTTON_BIT["L"] and p1.l == 255 and p1.r == 0
    assert inputs.read(1) == ControllerInput(), "P1's keys must not move P2"
    press(inputs, "w")  # diagonal: on the round gate, not the square's corner
    p1 = inputs.read(0)
    assert (p1.stick_x, p1.stick_y) == (90, 90)
    press(inputs, "left alt")  # tilt modifier halves the stick
    assert inputs.read(0).stick_x == 45
    press(inputs, "d", "w", "space", "left shift", "left alt", up=True)
    assert inputs.read(0) == ControllerInput()
    press(inputs, "left", "down", "k", "[8]")  # P2: arrows, A, C-stick up on the keypad
    p2 = inputs.read(1)
    assert (p2.stick_x, p2.stick_y, p2.cstick_y) == (-90, -90, 127) and p2.buttons == BUTTON_BIT["A"]
    assert inputs.source(1) == "keyboard"


def test_focus_loss_releases_keys(sdl):
    inputs = Inputs(S.Settings(), gamepads=False)
    press(inputs, "d")
    inputs.handle(pygame.event.Event(pygame.WINDOWFOCUSLOST))
    assert inputs.read(0) == ControllerInput()


def test_remapped_key_is_used(sdl):
    settings = S.Settings()
    settings.set("keyboard.p1.A", "m")
    inputs = Inputs(settings, gamepads=False)
    press(inputs, "q")
    assert inputs.read(0).buttons == 0
    press(inputs, "m")
    assert inputs.read(0).buttons == BUTTON_BIT["A"]


def test_codec_round_trip_through_client_path(sdl):
    inputs = Inputs(S.Settings(), gamepads=False)
    press(inputs, "a", "s", "e", "c", "z", "1", "h")  # stick down-left, B, R, Z, Start, C right
    ctrl = inputs.read(0)
    wire = ctrl.encode()  # the SDK's codec, as submit_input sends it
    assert len(wire) == CONTROLLER_LEN
    assert struct.unpack("<bbbbBBH", wire) == (-90, -90, 127, 0, 0, 255,
                                               BUTTON_BIT["B"] | BUTTON_BIT["R"] | BUTTON_BIT["Z"] | BUTTON_BIT["START"])
    assert ControllerInput.decode(wire) == ctrl


def test_analog_mapping_ranges():
    assert mapping.stick_axis(0.15, 0.2) == 0
    assert mapping.stick_axis(1.0, 0.2) == 127 and mapping.stick_axis(-1.0, 0.2) == -127
    assert mapping.stick_axis(-1.2, 0.2) == -127, "never -128, which the program rejects"
    assert 0 < mapping.stick_axis(0.25, 0.2) < 10, "no jump just past the dead zone"
    assert mapping.stick_axis(float("nan"), 0.2) == 0
    assert mapping.trigger_axis(0.03, 0.05) == 0 and mapping.trigger_axis(1.0, 0.05) == 255
    with pytest.raises(InvalidInput):
        mapping.controller((-128, 0))


def test_virtual_sdl_pad_hot_plug(sdl):
    inputs = Inputs(S.Settings())
    assert inputs.pads.pads == {}
    press(inputs, "d")  # P1 holds right on the keyboard
    assert inputs.read(0).stick_x == 127

    pad = VirtualPad()
    pump(inputs)  # CONTROLLERDEVICEADDED mid-game
    assert inputs.source(0).startswith("pad:"), "a pad plugged in takes over player 1"
    assert inputs.source(1) == "keyboard"
    assert inputs.read(0) == ControllerInput(), "the pad, at rest, now drives P1 (not the held key)"

    pad.axis(0, 32767)  # left stick right
    pad.axis(1, -32768)  # left stick up (SDL's y points down)
    pad.axis(2, 3000)  # C-stick inside the dead zone
    pad.axis(5, 32767)  # right trigger all the way: analog 255 and digital R
    pad.button(0, True)  # a -> A
    pad.button(10, True)  # rightshoulder -> Z
    pump(inputs)
    c = inputs.read(0)
    assert (c.stick_x, c.stick_y, c.cstick_x, c.r, c.l) == (127, 127, 0, 255, 0)
    assert c.buttons == BUTTON_BIT["A"] | BUTTON_BIT["Z"] | BUTTON_BIT["R"]
    assert ControllerInput.decode(c.encode()) == c

    second = VirtualPad()
    pump(inputs)
    assert inputs.source(1).startswith("pad:"), "a second pad takes player 2"

    pad.unplug()
    pump(inputs)  # CONTROLLERDEVICEREMOVED: P1 falls back to the keyboard, no crash
    assert inputs.source(0) == "keyboard"
    assert inputs.read(0).stick_x == 127, "the still-held key drives P1 again"
    assert inputs.source(1).startswith("pad:")
    msgs = inputs.messages()
    assert any("unplugged" in m for m in msgs) and any("connected" in m for m in msgs)

    third = VirtualPad()
    pump(inputs)
    assert inputs.source(0).startswith("pad:"), "the next pad fills the free player 1 slot"
    second.unplug()
    third.unplug()
    pump(inputs)
    assert inputs.pads.pads == {}
    inputs.close()


def test_raw_pad_events_map_like_sdl():
    state = RawPadState(dead_zone=0.2)
    state.apply("Absolute", "ABS_X", -32768)
    state.apply("Absolute", "ABS_Y", 32767)  # evdev y down -> stick down
    state.apply("Absolute", "ABS_RZ", 255)
    state.apply("Key", "BTN_SOUTH", 1)
    state.apply("Absolute", "ABS_HAT0Y", -1)
    c = state.read()
    assert (c.stick_x, c.stick_y, c.r) == (-127, -127, 255)
    assert c.buttons == BUTTON_BIT["A"] | BUTTON_BIT["D_UP"]
    state.apply("Absolute", "ABS_RZ", 1023)  # a 10-bit trigger raises the scale
    state.apply("Absolute", "ABS_RZ", 512)
    assert 120 < state.read().r < 135
