"""onchain.tools.bench on the fast cases: micro preset, 64x64 kernels."""
import json

import numpy as np
import pytest

from onchain.tools import bench
from onchain.sdk import instructions as I
from onchain.sdk import steps as S
from onchain.backends.svm import MAX_CU, ProgramVM
from worldmodel import cartridge as C


def _pos_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


@pytest.fixture(scope="module")
def result(so_path):
    return bench.run(["micro"], shapes=((64, 64),), so_path=so_path)


def test_packers_match_kernels():
    assert "packed" in bench.kernel_names()
    assert set(bench.kernel_names()) <= set(I.KERNELS) & set(bench.OPERAND_PACKERS)
    w = np.arange(-8, 8, dtype=np.int8).reshape(2, 8)
    x = np.arange(8, dtype=np.int8)
    assert bench.pack_rowmajor(w, x) == w.tobytes() + x.tobytes()


def test_kernels_shape(result):
    ks = result["kernels"]
    assert [(k["name"], k["rows"], k["cols"]) for k in ks] == [(n, 64, 64) for n in bench.kernel_names()]
    for k in ks:
        assert set(k) >= {"name", "rows", "cols", "cu", "cu_per_mac", "exact"}
        assert k["exact"] is True
        assert _pos_int(k["cu"]) and _pos_int(k["rows"]) and _pos_int(k["cols"])
        assert k["cu_per_mac"] == pytest.approx(k["cu"] / (k["rows"] * k["cols"]), abs=1e-4)
        assert k["cu_per_mac"] > 0


def test_kernel_in_row_ranges(bench_so_path):
    """A shape measured in row ranges (each net of the empty transaction) is still exact
    and costs about what it costs in one piece."""
    vm = ProgramVM(bench_so_path)
    whole = bench.bench_kernel(vm, "packed", 64, 64)
    parts = bench.bench_kernel(vm, "packed", 64, 64, chunk_rows=16)
    assert whole["txs"] == 1 and parts["txs"] == 4
    assert whole["exact"] and parts["exact"]
    assert 0 < whole["overhead_cu"] < 5_000
    assert parts["cu"] == pytest.approx(whole["cu"], rel=0.05)


def test_preset_shape(result):
    rows = result["presets"]
    assert [(p["name"], p["weight_layout"]) for p in rows] == [("micro", 2), ("micro", 1)]
    for p in rows:
        assert "error" not in p and "skipped" not in p, p
        for key in ("params", "macs_per_frame", "cu_per_frame", "txs_per_frame", "max_step_cu",
                    "encoder_cu", "head_cu", "steps_cu_sum", "tx_overhead_cu", "weights_bytes"):
            assert _pos_int(p[key]), (key, p[key])
        assert isinstance(p["ms_per_frame"], float) and p["ms_per_frame"] > 0
        assert isinstance(p["fits_one_tx"], bool)
        assert p["fits_one_tx"] == (p["txs_per_frame"] == 1)
        assert p["kernel"] == {1: "packed", 2: "lanes"}[p["weight_layout"]]
        preset = C.PRESETS["micro"]
        assert [x["layer"] for x in p["layers"]] == list(range(preset.n_layers))
        for x in p["layers"]:
            assert all(_pos_int(x[k]) for k in ("in_proj", "ssm", "out_proj"))
            assert x["cu"] == x["in_proj"] + x["ssm"] + x["out_proj"]
        # the parts, net of the per-transaction cost, add up to the one-step run
        parts = p["encoder_cu"] + p["head_cu"] + sum(x["cu"] for x in p["layers"])
        assert parts + p["steps"] * p["tx_overhead_cu"] == pytest.approx(p["steps_cu_sum"], abs=p["steps"])
        # ... and the packed frame costs the same work plus one fixed cost per transaction
        assert p["cu_per_frame"] == pytest.approx(parts + p["txs_per_frame"] * p["tx_overhead_cu"], rel=0.01)
        assert 1_000 < p["tx_overhead_cu"] < 20_000
        assert p["max_step_cu"] <= MAX_CU and p["cu_per_frame"] <= p["txs_per_frame"] * MAX_CU
        assert len(p["plan"]) == p["txs_per_frame"] and sum(p["plan"]) == p["steps"]
    lanes, rowmajor = rows
    # the fast layout: micro's whole frame in one transaction, several times cheaper
    assert lanes["fits_one_tx"] and not rowmajor["fits_one_tx"]
    assert lanes["cu_per_frame"] * 3 < rowmajor["cu_per_frame"]
    assert result["largest_preset_in_one_tx"] == "micro"


def test_skips_layouts_the_program_cannot_hold(so_path, monkeypatch):
    """A cartridge that needs more weight shards than run_inference takes is reported as
    skipped with the reason, not run (small in layout 2 needs 2; pretend the program took 1)."""
    monkeypatch.setattr(C, "PROGRAM_MAX_SHARDS", 1)
    res = bench.run(["small"], shapes=(), so_path=so_path, layouts=(2,))
    (p,) = res["presets"]
    assert p["name"] == "small" and p["weight_layout"] == 2
    assert "2 weight shards" in p["skipped"] and "error" not in p
    assert res["largest_preset_in_one_tx"] is None


def test_meta_and_json(result, tmp_path):
    m = result["meta"]
    assert len(m["so_sha256"]) == 64 and m["solders_version"] and m["date"]
    out = tmp_path / "bench.json"
    out.write_text(json.dumps(result))
    assert json.loads(out.read_text())["presets"][0]["name"] == "micro"
    text = __import__("io").StringIO()
    bench.render(result, file=text)
    assert "largest preset whose full frame fits one transaction: micro" in text.getvalue()


@pytest.mark.parametrize("layout", C.WEIGHT_LAYOUTS)
def test_frame_steps_mirror_rust(layout):
    for preset in C.PRESETS.values():
        infos = bench.frame_steps(preset, layout)
        assert infos[0].kind == "encode" and infos[-1].kind == "head"
        for layer in range(preset.n_layers):
            rows = [(s.row0, s.row1) for s in infos if s.kind == "in_proj" and s.layer == layer]
            assert rows[0][0] == 0 and rows[-1][1] == 2 * preset.d_inner + 2 * preset.d_state + preset.n_heads
            assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
            out = [(s.row0, s.row1) for s in infos if s.kind == "out_proj" and s.layer == layer]
            assert out[0][0] == 0 and out[-1][1] == preset.d_model


def test_pack_plan():
    assert bench.pack_plan([100, 200, 300], limit=1000, margin=0) == [3]
    assert bench.pack_plan([600, 400, 1], limit=1000, margin=5) == [1, 2]
    assert bench.pack_plan([2000, 10], limit=1000, margin=0) == [1, 1]
    assert bench.pack_plan([]) == []


def test_pack_steps_counts_the_fixed_cost_once_per_transaction():
    # four steps of 100 CU of work each, every one measured alone with a 50-CU fixed cost
    measured = [150] * 4
    assert S.pack_steps(measured, budget=400) == [2, 2]  # fixed cost unknown: 2 x 150 = 300 <= 400
    assert S.pack_steps(measured, budget=400, overhead=50) == [3, 1]  # 50 + 3 x 100 = 350
    assert S.pack_steps(measured, budget=450, overhead=50) == [4]  # 50 + 4 x 100 = 450
    # the fixed cost from a packed run of the same steps: [2, 2] saved it twice
    assert S.tx_overhead(measured, [2, 2], [250, 250]) == 50
    assert S.tx_overhead(measured, [1, 1, 1, 1], measured) is None  # nothing packed, nothing learned


def test_cli_kernels_only(so_path, tmp_path, capsys):
    out = tmp_path / "b.json"
    assert bench.main(["--kernels-only", "--shapes", "64x64", "--out", str(out), "--so", str(so_path)]) == 0  # kernels: the bench build
    data = json.loads(out.read_text())
    assert data["presets"] == []
    assert [(k["rows"], k["cols"], k["exact"]) for k in data["kernels"]] == [(64, 64, True)] * len(bench.kernel_names())
    assert "packed" in capsys.readouterr().out


def test_baseline_comparison(so_path, bench_so_path):
    """--baseline-so: the same kernels and presets on an older build, in the same run; with
    the same program on both sides every before/after pair is equal."""
    res = bench.run(["micro"], shapes=((64, 64),), so_path=so_path, layouts=(C.WEIGHT_LAYOUT_LANES,),
                    bench_so_path=bench_so_path, baseline_so=so_path, baseline_bench_so=bench_so_path)
    cmp_ = res["comparison"]
    assert res["baseline"]["meta"]["so_sha256"] == res["meta"]["so_sha256"]
    assert [(c["name"], c["weight_layout"]) for c in cmp_["presets"]] == [("micro", C.WEIGHT_LAYOUT_LANES)]
    row = cmp_["presets"][0]
    for key in ("cu_per_frame", "txs_per_frame", "in_proj_per_layer", "ssm_per_layer", "out_proj_per_layer"):
        assert _pos_int(row[key + "_before"]) and row[key + "_before"] == row[key + "_after"], key
    assert row["ssm_cu_per_state_after"] == pytest.approx(row["ssm_per_layer_after"] / (128 * 16), abs=0.01)
    assert [k["cu_per_mac_before"] for k in cmp_["kernels"]] == [k["cu_per_mac_after"] for k in cmp_["kernels"]]
    assert any("Before -> after" in title for title, _, _ in bench._tables(res))
