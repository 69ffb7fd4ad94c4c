"""The mat-vec kernels run in the VM (bench_matvec) equal numpy's int64 W @ x: the baseline
`packed` (weight layout 1) and the SWAR `lanes` kernel (weight layout 2), on edge values
(all -128, all 127, mixed extremes, zero rows), row counts that are not a multiple of the
lanes kernel's 12-row block, and column counts that are not a multiple of its 32-column
flush period."""
import re
import struct

import numpy as np
import pytest

from onchain.tools import bench
from onchain.sdk import instructions as I
from onchain.backends.svm import ProgramVM

PACKED = I.KERNELS["packed"]
LANES = I.KERNELS["lanes"]
KERNELS = ["packed", "lanes"]
SENTINEL = 0x5A5A5A5A


@pytest.fixture(scope="module")
def vm(bench_so_path):
    return ProgramVM(bench_so_path)


def _accounts(vm, w: np.ndarray, x: np.ndarray, kernel: str = "packed"):
    rows, cols = w.shape
    ops = vm.put(bench.OPERAND_PACKERS[kernel](np.asarray(w, np.int8), np.asarray(x, np.int8)))
    out = vm.put(struct.pack("<I", SENTINEL) * rows)
    return ops, out


def _out(vm, key, rows) -> np.ndarray:
    return np.frombuffer(vm.data(key), "<i4", rows).astype(np.int64)


def _run(vm, w, x, kernel="packed", **kw):
    rows, cols = w.shape
    ops, out = _accounts(vm, w, x, kernel)
    res = vm.send(I.bench_matvec(vm.program_id, ops, out, I.KERNELS[kernel], rows, cols, **kw))
    assert res.ok, f"{res.error}\n" + "\n".join(res.logs[-6:])
    return _out(vm, out, rows)


def _cases():
    rng = np.random.default_rng(20240)
    cases = []
    # (13, 40), (30, 144), (5, 1024): rows not a multiple of 12 and columns with a tail
    # shorter than the 32-column flush period
    for rows, cols in [(64, 64), (8, 8), (24, 256), (13, 40), (30, 144), (5, 1024)]:
        def full(v, r=rows, c=cols):
            return np.full((r, c), v, np.int8)

        cases += [
            (f"{rows}x{cols}-all-min", full(-128), np.full(cols, -128, np.int8)),
            (f"{rows}x{cols}-all-max", full(127), np.full(cols, 127, np.int8)),
            (f"{rows}x{cols}-min-w-max-x", full(-128), np.full(cols, 127, np.int8)),
            (f"{rows}x{cols}-max-w-min-x", full(127), np.full(cols, -128, np.int8)),
            (f"{rows}x{cols}-mixed-extremes",
             rng.choice(np.array([-128, 127], np.int8), size=(rows, cols)),
             rng.choice(np.array([-128, 127], np.int8), size=cols)),
            (f"{rows}x{cols}-checker", np.where((np.arange(rows)[:, None] + np.arange(cols)) % 2, 127, -128).astype(np.int8),
             np.where(np.arange(cols) % 2, -128, 127).astype(np.int8)),
            (f"{rows}x{cols}-zeros", full(0), np.zeros(cols, np.int8)),
            (f"{rows}x{cols}-zero-x", rng.integers(-128, 128, (rows, cols)).astype(np.int8), np.zeros(cols, np.int8)),
        ]
        w = rng.integers(-128, 128, (rows, cols)).astype(np.int8)
        w[rows // 2] = 0
        cases.append((f"{rows}x{cols}-zero-row", w, rng.integers(-128, 128, cols).astype(np.int8)))
        for k in range(3):
            cases.append((f"{rows}x{cols}-random{k}", rng.integers(-128, 128, (rows, cols)).astype(np.int8),
                          rng.integers(-128, 128, cols).astype(np.int8)))
    # a single non-zero entry at each column position of a row (lane/tail handling)
    w = np.zeros((16, 16), np.int8)
    for i in range(16):
        w[i, i] = -128 if i % 2 else 127
    cases.append(("16x16-diagonal", w, np.arange(-8, 8, dtype=np.int8) * 16))
    return cases


CASES = _cases()


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name,w,x", CASES, ids=[c[0] for c in CASES])
def test_kernel_matches_numpy(vm, kernel, name, w, x):
    want = w.astype(np.int64) @ x.astype(np.int64)
    got = _run(vm, w, x, kernel)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{name}: rows {bad[:8].tolist()} vm {got[bad[:8]].tolist()} numpy {want[bad[:8]].tolist()}"


@pytest.mark.parametrize("kernel", KERNELS)
def test_extreme_sums_reach_expected_magnitude(vm, kernel):
    # 24x1024 of -128 * -128: 1024 * 16384 = 2^24 in every row (no wrap, no saturation; in
    # the lanes kernel every 21-bit lane is at its largest, 32 * 255 * 255, at each flush)
    w = np.full((24, 1024), -128, np.int8)
    got = _run(vm, w, np.full(1024, -128, np.int8), kernel)
    assert np.all(got == 1024 * 16384)
    got = _run(vm, w, np.full(1024, 127, np.int8), kernel)
    assert np.all(got == -1024 * 128 * 127)
    got = _run(vm, np.full((24, 1024), 127, np.int8), np.full(1024, 127, np.int8), kernel)
    assert np.all(got == 1024 * 127 * 127)


@pytest.mark.parametrize("rows,cols,row_start,row_count", [(64, 64, 16, 20), (24, 256, 0, 5), (24, 256, 19, 5),
                                                            (8, 8, 7, 1), (64, 64, 10, 0)])
def test_row_range_writes_only_those_rows(vm, rows, cols, row_start, row_count):
    out, before = _row_range_matches(vm, PACKED, "packed", rows, cols, row_start, row_count, seed=rows * 1000 + row_start)
    if row_count == 0:
        assert vm.data(out) == before


def _row_range_matches(vm, kernel, layout, rows, cols, row_start, row_count, seed):
    """One bench_matvec over rows [row_start, row_start + row_count): those rows equal numpy's,
    every other row keeps the sentinel. Returns the output account and its bytes before."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (rows, cols)).astype(np.int8)
    x = rng.integers(-128, 128, cols).astype(np.int8)
    ops, out = _accounts(vm, w, x, layout)
    before = vm.data(out)
    res = vm.send(I.bench_matvec(vm.program_id, ops, out, kernel, rows, cols, row_start=row_start, row_count=row_count))
    assert res.ok, res.error
    got = _out(vm, out, rows)
    want = w.astype(np.int64) @ x.astype(np.int64)
    sel = slice(row_start, row_start + row_count)
    assert np.array_equal(got[sel], want[sel])
    outside = np.ones(rows, bool)
    outside[sel] = False
    assert np.all(got[outside] == SENTINEL), f"rows outside [{row_start}, {row_start + row_count}) were written"
    return out, before


def test_row_range_parts_compose(vm):
    rng = np.random.default_rng(77)
    w = rng.integers(-128, 128, (24, 256)).astype(np.int8)
    x = rng.integers(-128, 128, 256).astype(np.int8)
    ops, out = _accounts(vm, w, x)
    for start, count in [(0, 7), (7, 9), (16, 8)]:
        res = vm.send(I.bench_matvec(vm.program_id, ops, out, PACKED, 24, 256, row_start=start, row_count=count))
        assert res.ok, res.error
    assert np.array_equal(_out(vm, out, 24), w.astype(np.int64) @ x.astype(np.int64))


def _fails_with(res, code):
    assert not res.ok, "instruction unexpectedly succeeded"
    m = re.search(r"Custom\((\d+)\)", res.error or "")
    assert m and int(m.group(1)) == code, f"expected Custom({code}), got {res.error}"


# ids well away from the known kernels (0 = packed; more are being added from 1 upward)
@pytest.mark.parametrize("kernel", [99, 200, 255])
def test_unknown_kernel_fails_and_leaves_output(vm, kernel):
    assert kernel not in I.KERNELS.values()
    rng = np.random.default_rng(kernel)
    w = rng.integers(-128, 128, (8, 8)).astype(np.int8)
    ops, out = _accounts(vm, w, rng.integers(-128, 128, 8).astype(np.int8))
    before = vm.data(out)
    _fails_with(vm.send(I.bench_matvec(vm.program_id, ops, out, kernel, 8, 8)), 8)
    assert vm.data(out) == before


@pytest.mark.parametrize("cols", [12, 4, 100])
def test_cols_not_multiple_of_8_rejected(vm, cols):
    rows = 8
    ops = vm.put(bytes(rows * cols + cols + 8))
    out = vm.put(struct.pack("<I", SENTINEL) * rows)
    before = vm.data(out)
    _fails_with(vm.send(I.bench_matvec(vm.program_id, ops, out, PACKED, rows, cols)), 2)
    assert vm.data(out) == before


def test_short_operands_or_output_rejected(vm):
    rows, cols = 8, 16
    ops = vm.put(bytes(rows * cols + cols - 1))
    out = vm.put(bytes(4 * rows))
    _fails_with(vm.send(I.bench_matvec(vm.program_id, ops, out, PACKED, rows, cols)), 2)
    ops = vm.put(bytes(rows * cols + cols))
    out = vm.put(bytes(4 * rows - 1))
    _fails_with(vm.send(I.bench_matvec(vm.program_id, ops, out, PACKED, rows, cols)), 2)


def test_row_range_past_end_rejected(vm):
    rows, cols = 8, 8
    ops, out = _accounts(vm, np.ones((rows, cols), np.int8), np.ones(cols, np.int8))
    before = vm.data(out)
    _fails_with(vm.send(I.bench_matvec(vm.program_id, ops, out, PACKED, rows, cols, row_start=4, row_count=5)), 1)
    assert vm.data(out) == before


@pytest.mark.parametrize("rows,cols,row_start,row_count", [(64, 64, 12, 20), (30, 144, 24, 6), (30, 144, 0, 7),
                                                            (5, 1024, 0, 5), (64, 64, 36, 0)])
def test_lanes_row_range_writes_only_those_rows(vm, rows, cols, row_start, row_count):
    _row_range_matches(vm, LANES, "lanes", rows, cols, row_start, row_count, seed=rows * 1000 + row_start + 1)


@pytest.mark.parametrize("row_start", [1, 6, 11, 13])
def test_lanes_row_start_off_block_rejected(vm, row_start):
    rows, cols = 24, 64
    rng = np.random.default_rng(row_start)
    ops, out = _accounts(vm, rng.integers(-128, 128, (rows, cols)).astype(np.int8),
                         rng.integers(-128, 128, cols).astype(np.int8), "lanes")
    before = vm.data(out)
    _fails_with(vm.send(I.bench_matvec(vm.program_id, ops, out, LANES, rows, cols, row_start=row_start, row_count=4)), 2)
    assert vm.data(out) == before


def test_lanes_short_operands_rejected(vm):
    rows, cols = 13, 40
    rng = np.random.default_rng(5)
    full = bench.OPERAND_PACKERS["lanes"](rng.integers(-128, 128, (rows, cols)).astype(np.int8),
                                          rng.integers(-128, 128, cols).astype(np.int8))
    ops = vm.put(full[:-1])
    out = vm.put(struct.pack("<I", SENTINEL) * rows)
    before = vm.data(out)
    _fails_with(vm.send(I.bench_matvec(vm.program_id, ops, out, LANES, rows, cols)), 2)
    assert vm.data(out) == before
