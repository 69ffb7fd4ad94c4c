"""Weight layouts 1 (row-major i8) and 2 (lane words): the cartridge writes, reads and
validates both; the program runs both and rejects any other layout with InvalidManifest
(error 3), changing nothing."""
import re
import struct

import numpy as np
import pytest

from onchain.sdk import accounts as A
from onchain.sdk import pda
from onchain.backends.direct import DirectSession
from onchain.backends.svm import ProgramVM
from worldmodel import cartridge as C
from worldmodel import intref as IR
from worldmodel import randmodel as R

INVALID_MANIFEST, INVALID_WEIGHTS = 3, 4


@pytest.mark.parametrize("preset", ["micro", "tiny"])
def test_both_layouts_round_trip_to_the_same_model(preset, tmp_path):
    cart = R.random_cartridge(preset, 31)
    assert cart.weight_layout == C.WEIGHT_LAYOUT_LANES
    for layout in C.WEIGHT_LAYOUTS:
        d = cart.save(tmp_path / str(layout), layout=layout)
        back = C.load(d)
        assert back.weight_layout == layout
        assert struct.unpack_from("<H", back.manifest_bytes(), 10)[0] == layout
        assert (d / "weights.bin").read_bytes() == cart.weights_bytes(layout)
        for a, b in zip(back.layers, cart.layers):
            assert np.array_equal(a.in_proj.w, b.in_proj.w) and np.array_equal(a.out_proj.w, b.out_proj.w)
        assert np.array_equal(back.encoder.w, cart.encoder.w) and np.array_equal(back.head.w, cart.head.w)
    # layout 2 holds 8 bytes per 3 weights
    assert len(cart.weights_bytes(2)) > 2.5 * len(cart.weights_bytes(1)) * 0.9


def test_pack_lanes_layout():
    rng = np.random.default_rng(30)
    w = rng.integers(-128, 128, (15, 8)).astype(np.int8)  # 15 rows: two blocks, the second padded
    w[0, :] = -128
    w[1, :] = 127
    words = np.frombuffer(C.pack_lanes(w), "<i8").reshape(2, 8, 4)  # block, column, word
    for b in range(2):
        for k in range(4):  # word k of a block holds rows 3k, 3k+1, 3k+2 in its three 21-bit fields
            rows = [b * 12 + 3 * k + j for j in range(3)]
            want = sum((w[i].astype(np.int64) if i < 15 else np.zeros(8, np.int64)) << (21 * j)
                       for j, i in enumerate(rows))
            assert np.array_equal(words[b, :, k], want), (b, k)
    back = C.unpack_lanes(np.frombuffer(C.pack_lanes(w), "<i8"), 15, 8)
    assert np.array_equal(back, w)


def _lane_blob():
    cart = R.random_cartridge("micro", 32)
    w = bytearray(cart.weights_bytes(C.WEIGHT_LAYOUT_LANES))
    # the encoder's words start at the first Linear, right after the two LUTs
    return cart, w, 2 * 4 * C.LUT_SIZE


def _rejects(cart, w, *words):
    w = bytes(w)
    with pytest.raises(C.CartridgeError) as ei:
        C.from_bytes(cart.manifest_bytes(w, C.WEIGHT_LAYOUT_LANES), w)
    for word in words:
        assert word in str(ei.value).lower(), str(ei.value)


@pytest.mark.parametrize("field,value", [(0, 128), (0, -129), (1, 200), (2, 128), (2, -129)])
def test_lane_validator_rejects_a_field_outside_int8(field, value):
    cart, w, enc = _lane_blob()
    v = struct.unpack_from("<q", w, enc)[0]
    # the first word (encoder rows 0..2, column 0) rebuilt with one field out of range
    fields = []
    x = v
    for _ in range(3):
        low = ((x & ((1 << 21) - 1)) ^ (1 << 20)) - (1 << 20)
        fields.append(low)
        x = (x - low) >> 21
    fields[field] = value
    bad = fields[0] + (fields[1] << 21) + (fields[2] << 42)
    struct.pack_into("<q", w, enc, ((bad + (1 << 63)) % (1 << 64)) - (1 << 63))
    _rejects(cart, w, "int8")


def test_lane_validator_rejects_a_nonzero_padding_row():
    cart, w, enc = _lane_blob()
    d = cart.preset.d_model  # 64 rows: the last block holds rows 60..63 and 8 padding rows
    last_block = enc + (d // 12) * cart.in_dim * 4 * 8
    # column 0, word 3 of the last block holds rows 69..71 (all padding): make one 5
    struct.pack_into("<q", w, last_block + 3 * 8, 5)
    _rejects(cart, w, "padding")


def test_writer_rejects_unknown_layout():
    cart = R.random_cartridge("micro", 33)
    for layout in (0, 3):
        with pytest.raises(C.CartridgeError, match="weight layout"):
            cart.weights_bytes(layout)
        with pytest.raises(C.CartridgeError, match="weight layout"):
            cart.manifest_bytes(layout=layout)


@pytest.fixture
def session(so_path):
    cart = R.random_cartridge("micro", 34)
    rng = np.random.default_rng(35)
    vm = ProgramVM(so_path)
    state = R.random_state(rng)
    ds = DirectSession(vm, cart, state)
    ds.set_controls(R.random_controls(rng))
    return cart, vm, ds, state, rng


def _snapshot(vm, ds):
    keys = [ds.session, ds.hidden, ds.input, ds.manifest, *ds.weights]
    return [vm.data(k) for k in keys]


def _assert_fails(res, code):
    assert not res.ok, "instruction unexpectedly succeeded"
    m = re.search(r"Custom\((\d+)\)", res.error or "")
    assert m and int(m.group(1)) == code, f"expected Custom({code}), got {res.error}"


@pytest.mark.parametrize("layout", [0, 3, 7, 0xFFFF])
def test_program_rejects_unknown_weight_layout(session, layout):
    cart, vm, ds, state, rng = session
    good = cart.manifest_bytes()
    bad = bytearray(good)
    struct.pack_into("<H", bad, 10, layout)
    vm.put(A.manifest_account(1, bytes(32), bytes(bad), bump=pda.manifest_bump(vm.program_id, 1)), key=ds.manifest)
    before = _snapshot(vm, ds)
    _assert_fails(vm.send(ds.run_ix(0)), INVALID_MANIFEST)
    assert _snapshot(vm, ds) == before
    # the same session with the right manifest runs the frame bit-exact
    vm.put(A.manifest_account(1, bytes(32), good, bump=pda.manifest_bump(vm.program_id, 1)), key=ds.manifest)
    res = vm.send(ds.run_ix(0))
    assert res.ok, res.error
    assert ds.frame() == 1


def test_program_rejects_layout_that_does_not_match_the_blob(session):
    """A manifest claiming layout 1 for a layout-2 blob: the offsets do not add up to the
    blob's length, so the program refuses it (InvalidWeights) instead of reading garbage."""
    cart, vm, ds, state, rng = session
    m = bytearray(cart.manifest_bytes())
    struct.pack_into("<H", m, 10, C.WEIGHT_LAYOUT_ROWMAJOR)
    vm.put(A.manifest_account(1, bytes(32), bytes(m), bump=pda.manifest_bump(vm.program_id, 1)), key=ds.manifest)
    before = _snapshot(vm, ds)
    _assert_fails(vm.send(ds.run_ix(0)), INVALID_WEIGHTS)
    assert _snapshot(vm, ds) == before


@pytest.mark.parametrize("layout", C.WEIGHT_LAYOUTS)
def test_micro_whole_frame_in_one_transaction(so_path, layout):
    """Layout 2 runs micro's whole frame in one transaction; layout 1 does not fit one."""
    cart = R.random_cartridge("micro", 36)
    cart.weight_layout = layout
    rng = np.random.default_rng(37)
    vm = ProgramVM(so_path)
    state = R.random_state(rng)
    ds = DirectSession(vm, cart, state)
    hidden = IR.new_hidden(cart)
    for frame in range(3):
        ctrl = R.random_controls(rng)
        ds.set_controls(ctrl)
        res = vm.send(ds.run_ix(frame))
        if layout == C.WEIGHT_LAYOUT_ROWMAJOR:
            assert not res.ok and ds.frame() == 0
            return
        assert res.ok, res.error
        assert res.cu < 1_400_000
        state, _, hidden = IR.step(cart, state, ctrl, hidden)
        assert ds.frame() == frame + 1 and ds.next_step() == 0
        assert np.array_equal(ds.fighters(), state) and np.array_equal(ds.hidden_state(), hidden)
