"""The cartridge byte format: round trip through a model directory, and rejection of
malformed manifests and weight blobs with a CartridgeError that says why."""
import hashlib
import json
import struct

import numpy as np
import pytest

from worldmodel import cartridge as C
from worldmodel import randmodel as R


@pytest.fixture(scope="module")
def cart():
    return R.random_cartridge("micro", 42)


@pytest.fixture(scope="module")
def blobs(cart):
    w = cart.weights_bytes()
    return cart.manifest_bytes(w), w


def _assert_same_model(a: C.Cartridge, b: C.Cartridge):
    assert a.preset == b.preset and a.fields == b.fields
    assert (a.s_enc, a.s_head, a.s_norm_f, a.eps_f) == (b.s_enc, b.s_head, b.s_norm_f, b.eps_f)
    for name in ("w", "bias", "mult"):
        assert np.array_equal(getattr(a.encoder, name), getattr(b.encoder, name))
        assert np.array_equal(getattr(a.head, name), getattr(b.head, name))
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        assert la.quant == lb.quant
        assert np.array_equal(la.in_proj.w, lb.in_proj.w) and np.array_equal(la.out_proj.mult, lb.out_proj.mult)
        assert np.array_equal(la.d_skip, lb.d_skip) and np.array_equal(la.a_q16, lb.a_q16)


@pytest.mark.parametrize("preset,seed", [("micro", 1), ("tiny", 2)])
def test_save_load_round_trip(tmp_path, preset, seed):
    cart = R.random_cartridge(preset, seed)
    d = cart.save(tmp_path / "model")
    assert {p.name for p in d.iterdir()} >= {"manifest.bin", "weights.bin", "model.json"}
    back = C.load(d)
    assert back.weights_bytes() == cart.weights_bytes()
    assert back.manifest_bytes() == cart.manifest_bytes()
    assert back.preset.name == preset
    _assert_same_model(back, cart)
    info = json.loads((d / "model.json").read_text())
    assert info["params"] == cart.param_count()
    assert info["weights_len"] == len(cart.weights_bytes())
    assert info["weights_sha256"] == hashlib.sha256(cart.weights_bytes()).hexdigest()


def test_round_trip_random_fields(tmp_path):
    rng = np.random.default_rng(9)
    fields = R.random_fields(rng)
    cart = R.random_cartridge("micro", 9, fields=fields)
    back = C.load(cart.save(tmp_path))
    assert back.fields == fields
    assert back.weights_bytes() == cart.weights_bytes()
    assert back.manifest_bytes() == cart.manifest_bytes()


def test_weights_layout_is_8_aligned_and_sized(cart, blobs):
    manifest, w = blobs
    assert len(w) % 8 == 0
    assert struct.unpack_from("<I", manifest, 28)[0] == len(w)
    assert manifest[32:64] == hashlib.sha256(w).digest()
    assert len(manifest) == C.MANIFEST_HEADER + C.LAYER_QUANT_SIZE * cart.preset.n_layers


def _rejects(manifest, weights, *words):
    with pytest.raises(C.CartridgeError) as ei:
        C.from_bytes(bytes(manifest), bytes(weights))
    msg = str(ei.value)
    assert msg, "CartridgeError without a message"
    for word in words:
        assert word in msg.lower(), f"{word!r} not in {msg!r}"
    return msg


def test_accepts_unmodified(blobs):
    C.from_bytes(*blobs)  # the baseline every rejection below perturbs


def test_rejects_bad_magic(blobs):
    manifest, w = blobs
    _rejects(b"MELEEWM2" + manifest[8:], w, "magic")
    _rejects(b"\0" * 8 + manifest[8:], w, "magic")


def test_rejects_short_manifest(blobs):
    manifest, w = blobs
    _rejects(manifest[:C.MANIFEST_HEADER - 1], w)


@pytest.mark.parametrize("version", [0, 2, 0xFFFF])
def test_rejects_wrong_layout_version(blobs, version):
    manifest, w = blobs
    m = bytearray(manifest)
    struct.pack_into("<H", m, 8, version)
    _rejects(m, w, "layout version", str(version))


def test_rejects_wrong_weight_layout(blobs):
    manifest, w = blobs
    m = bytearray(manifest)
    struct.pack_into("<H", m, 10, 7)
    _rejects(m, w, "weight layout")


def test_rejects_truncated_weights(blobs, cart):
    manifest, w = blobs
    # against the original manifest: length mismatch
    _rejects(manifest, w[:-8], "length")
    _rejects(manifest, w[:len(w) // 2], "length")
    _rejects(manifest, b"", "length")
    # with a manifest rewritten to agree (length and hash): the layout still needs more bytes
    short = w[:-8]
    _rejects(cart.manifest_bytes(short), short, "too short")


@pytest.mark.parametrize("where", [0, 4096 * 2 + 5, -1, "middle"])
def test_rejects_flipped_weight_byte(blobs, where):
    manifest, w = blobs
    b = bytearray(w)
    i = len(b) // 2 if where == "middle" else where
    b[i] ^= 0x01
    _rejects(manifest, b, "sha256")


def test_rejects_flipped_sha_in_manifest(blobs):
    manifest, w = blobs
    m = bytearray(manifest)
    m[40] ^= 0x80
    _rejects(m, w, "sha256")


def test_rejects_trailing_bytes(blobs, cart):
    manifest, w = blobs
    # against the original manifest: the extra bytes break the declared length
    _rejects(manifest, w + bytes(8), "length")
    # with a manifest that declares (and hashes) the longer blob: the parser finds them
    longer = w + bytes(8)
    msg = _rejects(cart.manifest_bytes(longer), longer, "trailing")
    assert "8" in msg


@pytest.mark.parametrize("delta", [-32, -1, 1, 32])
def test_rejects_manifest_length_mismatch(blobs, delta):
    manifest, w = blobs
    m = manifest[:delta] if delta < 0 else manifest + bytes(delta)
    _rejects(m, w, "manifest length")


def test_rejects_n_layers_mismatch(blobs):
    manifest, w = blobs
    m = bytearray(manifest)
    struct.pack_into("<H", m, 20, struct.unpack_from("<H", m, 20)[0] + 1)
    _rejects(m, w, "manifest length")


def test_rejects_field_spec_mismatch(blobs):
    manifest, w = blobs
    m = bytearray(manifest)
    m[64 + 4 * 7 + 1] = 16  # action one-hot 32 -> 16 classes: in_dim (padded to 8) no longer matches
    _rejects(m, w, "in_dim")


def test_rejects_out_of_range_quant(cart):
    bad = R.random_cartridge("micro", 42)
    bad.layers[0].quant.eps = 0
    w = bad.weights_bytes()
    _rejects(bad.manifest_bytes(w), w, "eps")
    bad = R.random_cartridge("micro", 42)
    bad.layers[3].quant.s_out = 63
    w = bad.weights_bytes()
    _rejects(bad.manifest_bytes(w), w, "shift")


@pytest.mark.parametrize("preset,lo,hi", [("micro", 150_000, 350_000), ("tiny", 700_000, 1_300_000),
                                          ("small", 2_500_000, 5_000_000), ("target", 12_000_000, 22_000_000)])
def test_preset_param_counts(preset, lo, hi):
    cart = R.random_cartridge(preset, 0)
    n = cart.param_count()
    assert lo <= n <= hi, f"{preset}: {n} params"
    # the count is the weights blob's int8 matrices plus small per-channel vectors
    mats = cart.encoder.w.size + cart.head.w.size + sum(l.in_proj.w.size + l.out_proj.w.size for l in cart.layers)
    assert mats <= n < mats * 1.05
    assert len(cart.weights_bytes()) >= mats
