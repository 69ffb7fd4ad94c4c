"""Compute-unit benchmark of the world-model program in LiteSVM.

Two parts:

* **kernels**: each mat-vec kernel (`instructions.KERNELS` that also has an operand
  packer in `OPERAND_PACKERS`) on a few shapes through the `bench_matvec`
  instruction. The kernel's CU is the bench transaction's CU minus the CU of the same
  transaction with `row_count=0` (compute-budget instruction + dispatch + checks);
  shapes that do not fit one transaction are measured in row ranges and summed. The
  output is checked against numpy.
* **presets**: a random cartridge per preset and weight layout (2: lanes kernel, 1: the
  baseline) run through `run_inference`, one step per transaction (every step executed
  and measured), then packed greedily into as few transactions as the measured step costs
  allow, and that packed frame executed. Its CU is the frame's cost; the one-step
  transactions give the per-layer breakdown (each net of the fixed per-transaction cost,
  estimated from the two runs).

With `--baseline-so OLD.so` the same kernels and presets also run on an older build of
the program in the same run, and a before/after table (frame CU, transactions, per-layer
in_proj / ssm / out_proj, kernel CU/MAC) compares the two; build/bench.json then holds the
old figures under "baseline" next to the new ones.

    python -m onchain.tools.bench [--presets micro,tiny] [--kernels-only] [--out build/bench.json]
                            [--baseline-so build/world_model_base.so]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from worldmodel import cartridge as C
from worldmodel import randmodel

from onchain.sdk import instructions as I
from onchain.sdk import steps as S
from onchain.backends.svm import BENCH_SO, DEFAULT_SO, MAX_CU, ProgramVM, TxResult

SEED = 0
KERNEL_SHAPES: tuple[tuple[int, int], ...] = ((64, 64), (128, 128), (256, 256), (256, 1024))
PRESET_NAMES: tuple[str, ...] = ("micro", "tiny", "tiny-wide", "small", "target")
PACK_MARGIN = S.PACK_MARGIN  # CU kept free in each packed transaction (as the backends do)
MAX_ACCOUNT_LEN = 10 * 1024 * 1024  # Solana's MAX_PERMITTED_DATA_LENGTH (larger accounts: InvalidRealloc)
DEFAULT_OUT = DEFAULT_SO.parent / "bench.json"
RULES_STAGE = 32  # the stage of the benchmarked sessions (Final Destination, create_session's default)


# -- kernel operand layouts -------------------------------------------------------

def pack_rowmajor(w: np.ndarray, x: np.ndarray) -> bytes:
    """Kernel "packed": W row-major int8 (rows*cols bytes) then x (cols int8)."""
    return np.ascontiguousarray(w, dtype=np.int8).tobytes() + np.ascontiguousarray(x, dtype=np.int8).tobytes()


# kernel name -> operands(w[int8 rows x cols], x[int8 cols]) -> account bytes.
# A new kernel is one entry here (plus its id in instructions.KERNELS).
def pack_lanes(w: np.ndarray, x: np.ndarray) -> bytes:
    """Kernel "lanes": lane words (cartridge.pack_lanes) | x."""
    return C.pack_lanes(np.asarray(w, dtype=np.int8)) + np.ascontiguousarray(x, dtype=np.int8).tobytes()


OPERAND_PACKERS: dict[str, Callable[[np.ndarray, np.ndarray], bytes]] = {
    "packed": pack_rowmajor,
    "lanes": pack_lanes,
}


def kernel_names() -> list[str]:
    """Kernels that both the program (instructions.KERNELS) and this bench know."""
    return [k for k in I.KERNELS if k in OPERAND_PACKERS]


class BenchError(RuntimeError):
    pass


def _out_of_cu(res: TxResult) -> bool:
    text = " ".join([res.error or "", *res.logs])
    return "ComputationalBudgetExceeded" in text or "exceeded CUs meter" in text


def bench_kernel(vm: ProgramVM, name: str, rows: int, cols: int, seed: int = SEED,
                 chunk_rows: int | None = None) -> dict:
    """CU of one kernel on a rows x cols int8 mat-vec (random operands, fixed seed).

    Rows go in as few transactions as fit (the range is halved while a transaction runs
    out of compute units); `chunk_rows` caps the rows per transaction."""
    kid = I.KERNELS[name]
    rng = np.random.default_rng([seed, rows, cols])
    w = rng.integers(-128, 128, size=(rows, cols), dtype=np.int16).astype(np.int8)
    x = rng.integers(-128, 128, size=cols, dtype=np.int16).astype(np.int8)
    ops = vm.put(OPERAND_PACKERS[name](w, x))
    out = vm.put(bytes(4 * rows))

    def send(row_start: int, row_count: int) -> TxResult:
        return vm.send(I.bench_matvec(vm.program_id, ops, out, kid, rows, cols, row_start, row_count))

    base = send(0, 0)
    if not base.ok:
        raise BenchError(f"kernel {name} {rows}x{cols}: empty transaction failed: {base.error}\n"
                         + "\n".join(base.logs[-5:]))
    overhead = base.cu
    total, parts, start, chunk = 0, 0, 0, min(rows, chunk_rows or rows)
    while start < rows:
        count = min(chunk, rows - start)
        res = send(start, count)
        if not res.ok:
            if _out_of_cu(res) and count > 1:
                chunk = max(1, count // 2)  # too big for one transaction: halve the range
                continue
            raise BenchError(f"kernel {name} {rows}x{cols} rows [{start}, {start + count}): {res.error}\n"
                             + "\n".join(res.logs[-5:]))
        total += res.cu - overhead
        parts += 1
        start += count
    got = np.frombuffer(vm.data(out)[:4 * rows], dtype="<i4").astype(np.int64)
    want = w.astype(np.int64) @ x.astype(np.int64)
    return {
        "name": name, "rows": rows, "cols": cols, "cu": int(total),
        "cu_per_mac": round(total / (rows * cols), 4),
        "exact": bool(np.array_equal(got, want)),
        "txs": parts, "overhead_cu": int(overhead),
    }


def bench_kernels(vm: ProgramVM, shapes=KERNEL_SHAPES, kernels: list[str] | None = None,
                  seed: int = SEED) -> list[dict]:
    names = kernel_names() if kernels is None else [k for k in kernels if k in kernel_names()]
    return [bench_kernel(vm, k, r, c, seed) for k in names for r, c in shapes]


# -- presets ----------------------------------------------------------------------

StepInfo = S.StepInfo


def frame_steps(preset: C.Preset, weight_layout: int = C.WEIGHT_LAYOUT_LANES) -> list[S.StepInfo]:
    """Python mirror of `Dims::step` (onchain/program/src/model.rs) for every step."""
    out = S.frame_steps(preset, weight_layout)
    assert len(out) == S.steps_per_frame(preset, weight_layout), (len(out), S.steps_per_frame(preset, weight_layout))
    return out


def pack_plan(step_cu: list[int], limit: int = MAX_CU, margin: int = PACK_MARGIN, overhead: int = 0) -> list[int]:
    """The runtime's greedy plan (steps.pack_steps) under `limit` - `margin`."""
    return S.pack_steps(step_cu, limit - margin, overhead)


def _run_frame(sess, plan: list[int], what: str) -> list[TxResult]:
    frame = sess.frame()
    res = sess.step(plan)
    bad = next((r for r in res if not r.ok), None)
    if bad is not None or len(res) != len(plan):
        err = bad.error if bad else "missing transactions"
        logs = "\n".join(bad.logs[-6:]) if bad else ""
        accounts = [(f"weights[{i}]", k) for i, k in enumerate(sess.weights)]
        accounts += [("manifest", sess.manifest), ("hidden", sess.hidden)]
        big = {n: len(sess.vm.data(k)) for n, k in accounts}
        big = {n: size for n, size in big.items() if size > MAX_ACCOUNT_LEN}
        hint = "".join(f"; {n} account is {size:,} B > {MAX_ACCOUNT_LEN:,} B (10 MiB account limit)"
                       for n, size in big.items())
        raise BenchError(f"{what} frame {frame} failed at tx {len(res) - 1} "
                         f"(steps {sum(plan[:len(res) - 1])}..): {err}{hint}\n{logs}")
    if sess.frame() != frame + 1:
        raise BenchError(f"{sess.cart.preset.name}: {what} frame did not advance ({frame} -> {sess.frame()})")
    return res


WEIGHT_LAYOUTS = (C.WEIGHT_LAYOUT_LANES, C.WEIGHT_LAYOUT_ROWMAJOR)
KERNEL_OF_LAYOUT = {C.WEIGHT_LAYOUT_ROWMAJOR: "packed", C.WEIGHT_LAYOUT_LANES: "lanes"}


def preset_cartridge(name: str, layout: int, seed: int = SEED) -> C.Cartridge:
    cart = randmodel.random_cartridge(name, seed)
    cart.weight_layout = layout
    return cart


def skip_reason(cart: C.Cartridge) -> str | None:
    n = len(C.shards(cart.weights_bytes()))
    if n > C.PROGRAM_MAX_SHARDS:
        return (f"weight layout {cart.weight_layout} needs {n} weight shards; "
                f"run_inference takes at most {C.PROGRAM_MAX_SHARDS}")
    return None


def bench_preset(name: str, so_path: str | Path = DEFAULT_SO, seed: int = SEED,
                 layout: int = C.WEIGHT_LAYOUT_LANES) -> dict:
    from onchain.backends.direct import DirectSession  # imports solders' VM pieces; keep kernel-only runs light

    cart = preset_cartridge(name, layout, seed)
    rng = np.random.default_rng(seed)
    vm = ProgramVM(so_path)
    start = randmodel.random_state(rng)
    start[:, C.FIELDS.index("stocks")] = 4  # a game the rules keep running for these frames
    # A session as create_session makes it (Final Destination: the rules run after the head), and
    # a twin of the model alone (no stage), for the rules' own cost.
    sess = DirectSession(vm, cart, start, stage=RULES_STAGE)
    twin = DirectSession(ProgramVM(so_path), cart, start, stage=0)
    infos = frame_steps(cart.preset, layout)
    assert len(infos) == sess.steps

    single = [1] * sess.steps
    controls = [randmodel.random_controls(rng) for _ in range(3)]
    measured = []  # per session: each step's CU of the second frame
    for s in (sess, twin):
        s.set_controls(controls[0])
        _run_frame(s, single, "warm-up")
        s.set_controls(controls[1])
        measured.append([int(r.cu) for r in _run_frame(s, single, "measured")])
    step_cu = measured[0]
    rules_cu = measured[0][-1] - measured[1][-1]  # the head step with the rules minus without

    # As the backends do: a conservative plan first (the fixed cost of a transaction unknown), then,
    # once a packed frame has shown that cost, the plan that counts it once per transaction.
    plan = pack_plan(step_cu)
    sess.set_controls(controls[2])
    packed = _run_frame(sess, plan, "packed")
    overhead = S.tx_overhead(step_cu, plan, [int(r.cu) for r in packed])
    replan = pack_plan(step_cu, overhead=overhead) if overhead is not None else plan
    if replan != plan:
        plan = replan
        sess.set_controls(controls[0])
        packed = _run_frame(sess, plan, "packed")
    packed_cu = int(sum(r.cu for r in packed))
    steps_cu = sum(step_cu)
    # Each transaction pays a fixed cost (compute-budget instruction, account checks,
    # manifest parse); the one-step run pays it once per step, the packed run once per
    # transaction, which gives it. The breakdown below is net of it.
    tx_cu = S.tx_overhead(step_cu, plan, [int(r.cu) for r in packed]) or 0
    net = [max(0, cu - tx_cu) for cu in step_cu]
    layer_parts = [{"layer": i, "in_proj": 0, "ssm": 0, "out_proj": 0} for i in range(cart.preset.n_layers)]
    encoder_cu = head_cu = 0  # (head_cu: the head step's net CU, the rules included)
    for info, cu in zip(infos, net):
        if info.kind == "encode":
            encoder_cu += cu
        elif info.kind == "head":
            head_cu += cu
        else:
            layer_parts[info.layer][info.kind] += cu
    for part in layer_parts:
        part["cu"] = part["in_proj"] + part["ssm"] + part["out_proj"]
    macs = cart.macs_per_frame()
    return {
        "name": name,
        "weight_layout": layout,
        "kernel": KERNEL_OF_LAYOUT[layout],
        "params": cart.param_count(),
        "macs_per_frame": macs,
        "weights_bytes": len(cart.weights_bytes()),
        "steps": sess.steps,
        "cu_per_frame": packed_cu,
        "cu_per_mac": round(packed_cu / macs, 4),
        "txs_per_frame": len(plan),
        "ms_per_frame": round(1000.0 * sum(r.seconds for r in packed), 3),
        "fits_one_tx": len(plan) == 1,
        "max_step_cu": max(step_cu),
        "steps_cu_sum": steps_cu,
        "tx_overhead_cu": tx_cu,
        "plan": plan,
        "layers": layer_parts,
        "encoder_cu": encoder_cu,
        "head_cu": head_cu,
        "rules_cu": rules_cu,  # of head_cu: the rules layer on Final Destination (head with - without)
    }


# -- report -----------------------------------------------------------------------

def meta(so_path: str | Path = DEFAULT_SO, bench_so_path: str | Path = BENCH_SO) -> dict:
    return {
        "so_sha256": hashlib.sha256(Path(so_path).read_bytes()).hexdigest(),
        "bench_so_sha256": hashlib.sha256(Path(bench_so_path).read_bytes()).hexdigest(),
        "solders_version": importlib.metadata.version("solders"),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def run(presets: list[str] | tuple[str, ...] = PRESET_NAMES, kernels_only: bool = False,
        shapes=KERNEL_SHAPES, kernels: list[str] | None = None, so_path: str | Path = DEFAULT_SO,
        seed: int = SEED, progress: Callable[[str], None] | None = None,
        layouts: tuple[int, ...] = WEIGHT_LAYOUTS, bench_so_path: str | Path = BENCH_SO,
        baseline_so: str | Path | None = None, baseline_bench_so: str | Path | None = None) -> dict:
    """Kernels run in the benchmark build (`bench_so_path`, which has bench_matvec); presets run
    the deployed program (`so_path`), so their CU are what a session pays. `baseline_so` (and its
    benchmark build `baseline_bench_so`; an older build from before the split has the kernel
    instruction in its one .so, the default) runs in the same call for a before/after table."""
    result = _run_one(presets, kernels_only, shapes, kernels, so_path, bench_so_path, seed, progress, layouts)
    if baseline_so is not None:
        say = progress or (lambda _msg: None)
        say(f"baseline {baseline_so} ...")
        base = _run_one(presets, kernels_only, shapes, kernels, baseline_so, baseline_bench_so or baseline_so, seed,
                        progress, layouts)
        base["meta"]["so_path"] = str(baseline_so)
        result["baseline"] = base
        result["comparison"] = compare(base, result)
    return result


def _run_one(presets, kernels_only, shapes, kernels, so_path, bench_so_path, seed, progress, layouts) -> dict:
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    m = meta(so_path, bench_so_path)
    say("kernels ...")
    kernel_rows = bench_kernels(ProgramVM(bench_so_path), shapes, kernels, seed)
    preset_rows = []
    if not kernels_only:
        for name in presets:
            for layout in layouts:
                say(f"preset {name} layout {layout} ...")
                t = time.perf_counter()
                cart = preset_cartridge(name, layout, seed)
                info = {"name": name, "weight_layout": layout, "kernel": KERNEL_OF_LAYOUT[layout],
                        "params": cart.param_count(), "macs_per_frame": cart.macs_per_frame(),
                        "weights_bytes": len(cart.weights_bytes())}
                if (why := skip_reason(cart)) is not None:
                    preset_rows.append({**info, "skipped": why})
                    say(f"preset {name} layout {layout}: skipped ({why})")
                    continue
                try:
                    preset_rows.append(bench_preset(name, so_path, seed, layout))
                except BenchError as exc:  # record it and go on with the other presets
                    preset_rows.append({**info, "error": str(exc)})
                    say(f"preset {name} layout {layout}: FAILED")
                say(f"preset {name} layout {layout}: {time.perf_counter() - t:.1f} s")
    m["seconds"] = round(time.perf_counter() - t0, 2)
    return {"kernels": kernel_rows, "presets": preset_rows,
            "largest_preset_in_one_tx": largest_in_one_tx(preset_rows), "meta": m}


def _per_layer(p: dict, part: str) -> int:
    return round(sum(x[part] for x in p["layers"]) / max(1, len(p["layers"])))


def compare(base: dict, new: dict) -> dict:
    """Before/after rows for the kernels and presets measured by both runs."""
    kb = {(k["name"], k["rows"], k["cols"]): k for k in base["kernels"]}
    kernels = [{"name": k["name"], "rows": k["rows"], "cols": k["cols"],
                "cu_per_mac_before": kb[key]["cu_per_mac"], "cu_per_mac_after": k["cu_per_mac"]}
               for k in new["kernels"] if (key := (k["name"], k["rows"], k["cols"])) in kb]
    pb = {(p["name"], p["weight_layout"]): p for p in base["presets"] if "layers" in p}
    presets = []
    for p in new["presets"]:
        old = pb.get((p["name"], p["weight_layout"]))
        if old is None or "layers" not in p:
            continue
        row = {"name": p["name"], "weight_layout": p["weight_layout"], "params": p["params"]}
        for key in ("cu_per_frame", "txs_per_frame", "encoder_cu", "head_cu"):
            row[key + "_before"], row[key + "_after"] = old[key], p[key]
        for part in ("in_proj", "ssm", "out_proj"):
            row[f"{part}_per_layer_before"], row[f"{part}_per_layer_after"] = _per_layer(old, part), _per_layer(p, part)
        e, n = C.PRESETS[p["name"]].d_inner, C.PRESETS[p["name"]].d_state
        row["ssm_cu_per_state_before"] = round(row["ssm_per_layer_before"] / (e * n), 2)
        row["ssm_cu_per_state_after"] = round(row["ssm_per_layer_after"] / (e * n), 2)
        presets.append(row)
    return {"kernels": kernels, "presets": presets}


def largest_in_one_tx(rows: list[dict]) -> str | None:
    """The preset with the most parameters whose whole frame ran in one transaction."""
    fits = [r for r in rows if r.get("fits_one_tx")]
    return max(fits, key=lambda r: r["params"])["name"] if fits else None


def _fmt(n) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def _tables(result: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    k_head = ["kernel", "shape", "CU", "CU/MAC", "txs", "exact"]
    k_rows = [[k["name"], f'{k["rows"]}x{k["cols"]}', _fmt(k["cu"]), f'{k["cu_per_mac"]:.3f}',
               str(k.get("txs", 1)), "yes" if k["exact"] else "NO"] for k in result["kernels"]]
    p_head = ["preset", "layout", "params", "MACs/frame", "CU/frame", "CU/MAC", "txs/frame", "ms/frame", "1 tx"]
    b_head = ["preset", "layout", "steps", "tx CU", "encoder", "in_proj", "ssm", "out_proj", "head", "of it rules",
              "layer (min-max)", "plan"]
    p_rows, b_rows = [], []
    for p in result["presets"]:
        lay = f'{p.get("weight_layout", "?")} {p.get("kernel", "")}'.strip()
        if "error" in p or "skipped" in p:
            what = "FAILED" if "error" in p else "skipped"
            p_rows.append([p["name"], lay, _fmt(p["params"]), _fmt(p["macs_per_frame"]), what, "-", "-", "-", "-"])
            continue
        lc = [x["cu"] for x in p["layers"]]
        p_rows.append([p["name"], lay, _fmt(p["params"]), _fmt(p["macs_per_frame"]), _fmt(p["cu_per_frame"]),
                       f'{p["cu_per_frame"] / p["macs_per_frame"]:.3f}', str(p["txs_per_frame"]),
                       f'{p["ms_per_frame"]:.1f}', "yes" if p["fits_one_tx"] else "no"])
        plan = p.get("plan", [])
        plan_s = ",".join(map(str, plan)) if len(plan) <= 6 else f'{",".join(map(str, plan[:5]))},… ({len(plan)})'
        tot = {k: sum(x[k] for x in p["layers"]) for k in ("in_proj", "ssm", "out_proj")}
        b_rows.append([p["name"], lay, str(p["steps"]), _fmt(p["tx_overhead_cu"]), _fmt(p["encoder_cu"]),
                       _fmt(tot["in_proj"]), _fmt(tot["ssm"]), _fmt(tot["out_proj"]), _fmt(p["head_cu"]),
                       _fmt(p.get("rules_cu", 0)), f"{min(lc):,}-{max(lc):,}" if lc else "-", plan_s])
    out = [("Mat-vec kernels (bench_matvec, CU net of the empty transaction)", k_head, k_rows)]
    if p_rows:
        out.append(("Presets (run_inference, random weights; CU and txs of the greedily packed frame)",
                    p_head, p_rows))
        out.append(("Per-frame CU breakdown, all layers summed, net of the fixed CU per transaction "
                    "(steps per tx in the packed plan)", b_head, b_rows))
    cmp_ = result.get("comparison")
    if cmp_:
        c_head = ["preset / kernel", "layout / shape", "CU/frame (kernel: CU/MAC)", "txs", "in_proj/layer", "ssm/layer", "ssm CU/state",
                  "out_proj/layer"]
        c_rows = [[c["name"], str(c["weight_layout"]),
                   f'{_fmt(c["cu_per_frame_before"])} -> {_fmt(c["cu_per_frame_after"])}',
                   f'{c["txs_per_frame_before"]} -> {c["txs_per_frame_after"]}',
                   f'{_fmt(c["in_proj_per_layer_before"])} -> {_fmt(c["in_proj_per_layer_after"])}',
                   f'{_fmt(c["ssm_per_layer_before"])} -> {_fmt(c["ssm_per_layer_after"])}',
                   f'{c["ssm_cu_per_state_before"]:.1f} -> {c["ssm_cu_per_state_after"]:.1f}',
                   f'{_fmt(c["out_proj_per_layer_before"])} -> {_fmt(c["out_proj_per_layer_after"])}']
                  for c in cmp_["presets"]]
        c_rows += [[f'kernel {k["name"]}', f'{k["rows"]}x{k["cols"]}',
                    f'{k["cu_per_mac_before"]:.3f} -> {k["cu_per_mac_after"]:.3f}', "", "", "", "", ""]
                   for k in cmp_["kernels"]]
        out.append((f'Before -> after, same run (baseline {result["baseline"]["meta"]["so_sha256"][:16]}…)',
                    c_head, c_rows))
    return out


def render(result: dict, file=None) -> None:
    file = file or sys.stdout
    m = result["meta"]
    footer = (f'program sha256 {m["so_sha256"][:16]}…  solders {m["solders_version"]}  {m["date"]}'
              + (f'  bench {m["seconds"]:.1f} s' if "seconds" in m else ""))
    footer += "".join(f'\nFAILED {p["name"]} layout {p.get("weight_layout")}: {p["error"].splitlines()[0]}'
                      for p in result["presets"] if "error" in p)
    footer += "".join(f'\nskipped {p["name"]} layout {p["weight_layout"]}: {p["skipped"]}'
                      for p in result["presets"] if "skipped" in p)
    if result["presets"]:
        footer += f'\nlargest preset whose full frame fits one transaction: {result.get("largest_preset_in_one_tx")}'

    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None
    if Console is not None:
        con = Console(file=file)
        if not con.is_terminal:
            con = Console(file=file, width=120)  # piped / logged: do not squeeze to 80 columns
        for title, head, rows in _tables(result):
            t = Table(title=title)
            for i, h in enumerate(head):
                t.add_column(h, justify="left" if i == 0 else "right")
            for r in rows:
                t.add_row(*r)
            con.print(t)
        con.print(footer)
        return
    for title, head, rows in _tables(result):
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        print(title, file=file)
        print("  ".join(h.rjust(w) for h, w in zip(head, widths)), file=file)
        for r in rows:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths)), file=file)
        print(file=file)
    print(footer, file=file)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m onchain.tools.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default=",".join(PRESET_NAMES),
                    help="comma-separated presets (default: %(default)s)")
    ap.add_argument("--kernels-only", action="store_true", help="skip the presets")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="JSON output (default: %(default)s)")
    ap.add_argument("--shapes", default=",".join(f"{r}x{c}" for r, c in KERNEL_SHAPES),
                    help="kernel shapes ROWSxCOLS (default: %(default)s)")
    ap.add_argument("--kernels", default=None, help="comma-separated kernels (default: all known)")
    ap.add_argument("--so", default=str(DEFAULT_SO), help="program .so (default: %(default)s)")
    ap.add_argument("--bench-so", default=str(BENCH_SO),
                    help="benchmark build with bench_matvec, for the kernels (default: %(default)s)")
    ap.add_argument("--baseline-so", default=None,
                    help="also run an older program build and print a before/after table")
    ap.add_argument("--baseline-bench-so", default=None,
                    help="the older build's benchmark build (default: --baseline-so itself)")
    ap.add_argument("--layouts", default=",".join(map(str, WEIGHT_LAYOUTS)),
                    help="weight layouts to run the presets in (default: %(default)s)")
    args = ap.parse_args(argv)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in C.PRESETS]
    if unknown:
        ap.error(f"unknown preset(s) {unknown}; choose from {list(C.PRESETS)}")
    try:
        shapes = tuple(tuple(int(v) for v in sh.lower().split("x")) for sh in args.shapes.split(",") if sh)
        assert all(len(sh) == 2 for sh in shapes)
    except (ValueError, AssertionError):
        ap.error(f"bad --shapes {args.shapes!r}: expected e.g. 64x64,256x1024")
    kernels = None if args.kernels is None else [k.strip() for k in args.kernels.split(",") if k.strip()]
    if kernels is not None and (missing := [k for k in kernels if k not in kernel_names()]):
        ap.error(f"unknown kernel(s) {missing}; known: {kernel_names()}")
    try:
        layouts = tuple(int(v) for v in args.layouts.split(",") if v.strip())
        assert layouts and all(v in C.WEIGHT_LAYOUTS for v in layouts)
    except (ValueError, AssertionError):
        ap.error(f"bad --layouts {args.layouts!r}: choose from {list(C.WEIGHT_LAYOUTS)}")
    result = run(presets, args.kernels_only, shapes, kernels, so_path=args.so, bench_so_path=args.bench_so,
                 progress=lambda msg: print(msg, file=sys.stderr, flush=True), layouts=layouts,
                 baseline_so=args.baseline_so, baseline_bench_so=args.baseline_bench_so)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    render(result)
    print(f"wrote {out}")
    bad = [f'{k["name"]} {k["rows"]}x{k["cols"]}' for k in result["kernels"] if not k["exact"]]
    if bad:
        print(f"NOT EXACT: {', '.join(bad)}", file=sys.stderr)
    failed = [p for p in result["presets"] if "error" in p]
    for p in failed:
        print(f'preset {p["name"]} FAILED; last logs:\n' + "\n".join(p["error"].splitlines()[1:]), file=sys.stderr)
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
