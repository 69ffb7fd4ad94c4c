"""Check the stage table and measure the death/respawn sequence in the replays.

    python -m worldmodel.measure_rules [--replays ../shared/replays] [--per-stage N] [--json]

Raw Melee action-state ids (not the dataset's categories) from peppi-py, rollback removed:
- KOs: the first frame of a death state (0x0-0xA). The position on that frame is past a
  blast zone, the frame before it is inside: each KO brackets that zone's value between the
  largest coordinate seen before a KO and the smallest seen at one.
- respawn: frames from the KO to ON_HALO_DESCENT (0xC), in 0xC, in ON_HALO_WAIT (0xD), the
  position while in 0xD, and the frames of invulnerability (post.hurtbox_state != 0) after
  the fighter leaves the platform.
- surfaces: how far out grounded fighters stand on the main platform (edge), the x of a
  fighter hanging from the ledge (CliffWait, 0xFD), and the heights grounded fighters stand at
  above the ground (platforms).
Every number printed comes from the replays; "differs" lines compare with worldmodel.stages.
"""
from __future__ import annotations

import argparse
import csv
import json
import lzma
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .dataset import last_row_per_frame
from .stages import STAGES

DEATH_LAST = 0xA
HALO_DESCENT, HALO_WAIT = 0xC, 0xD
CLIFF_WAIT = 0xFD
TEETER, TEETER_WAIT = 0xF5, 0xF6  # Ottotto: standing at the very edge
BY_ID = {s.slippi_id: s for s in STAGES}


def read_raw(path: Path):
    """(stage id, [per port dict of numpy arrays]) with rollback removed."""
    import peppi_py
    fd, tmp = tempfile.mkstemp(suffix=".slp")
    try:
        with os.fdopen(fd, "wb") as out, lzma.open(path) as src:
            out.write(src.read())
        g = peppi_py.read_slippi(tmp)
    finally:
        os.unlink(tmp)
    keep = last_row_per_frame(g.frames.id.to_numpy())
    ports = []
    for pl, port in zip(g.start.players, g.frames.ports):
        post = port.leader.post

        def a(v, default=0.0):
            return np.full(len(keep), default) if v is None else v.to_numpy(zero_copy_only=False)[keep]
        ports.append(dict(state=a(post.state).astype(np.int64), x=a(post.position.x), y=a(post.position.y),
                          airborne=a(post.airborne, 1), hurt=a(post.hurtbox_state, -1),
                          port=int(pl.port.value) + 1))
    return int(g.start.stage), ports


def zone_of(stage, x: float, y: float) -> str | None:
    left, right, top, bottom = stage.blast
    if x < left:
        return "left"
    if x > right:
        return "right"
    if y > top:
        return "top"
    if y < bottom:
        return "bottom"
    return None


def runs(mask: np.ndarray, start: int) -> int:
    """Length of the run of True in mask starting at start."""
    n = 0
    while start + n < len(mask) and mask[start + n]:
        n += 1
    return n


def measure_game(stage, ports, acc):
    for p in ports:
        s, x, y = p["state"], p["x"], p["y"]
        dead = s <= DEATH_LAST
        for t in np.flatnonzero(dead[1:] & ~dead[:-1]) + 1:
            z = zone_of(stage, x[t], y[t])
            acc["kos"].append(dict(zone=z, at=(float(x[t]), float(y[t])), before=(float(x[t - 1]), float(y[t - 1]))))
            n_dead = runs(dead, t)
            u = t + n_dead
            if u >= len(s) or s[u] != HALO_DESCENT:
                continue  # the game ended on this KO
            n_desc = runs(s == HALO_DESCENT, u)
            w = u + n_desc
            n_wait = runs(s == HALO_WAIT, w)
            e = w + n_wait
            if e >= len(s):
                continue
            acc["dead_frames"].append(n_dead)
            acc["descent_frames"].append(n_desc)
            acc["descent_top"].append(round(float(y[u]), 3))
            acc["wait_frames"].append(n_wait)
            if n_wait:
                acc["wait_pos"].append((p["port"], round(float(x[w]), 3), round(float(y[w]), 3)))
                acc["wait_moved"].append(float(np.max(np.abs(x[w:e] - x[w])) + np.max(np.abs(y[w:e] - y[w]))))
            if p["hurt"][e] >= 0:
                acc["invuln_after"].append(runs(p["hurt"] != 0, e))
        grounded = (p["airborne"] == 0) & ~dead & (s != HALO_WAIT)
        teeter = grounded & ((s == TEETER) | (s == TEETER_WAIT)) & (np.abs(y) < 1.0)
        acc["edge"].extend(np.round(np.abs(x[teeter]), 3).tolist())
        hang = s == CLIFF_WAIT
        acc["ledge"].extend(np.round(np.abs(x[hang]), 3).tolist())
        high = grounded & (y > 5.0)
        acc["platform_pts"].extend(zip(np.round(y[high], 2).tolist(), np.round(x[high], 1).tolist()))


def stats(v) -> str:
    v = np.asarray(v, dtype=np.float64)
    if len(v) == 0:
        return "none"
    return f"n={len(v)} min {v.min():g} median {np.median(v):g} max {v.max():g}"


def platform_clusters(points):
    """Grounded heights above 5 units, grouped by height (0.1 unit) and side: (y, x min, x max, n)."""
    groups = defaultdict(list)
    for y, x in points:
        groups[(round(y, 1), -1 if x < -1 else (1 if x > 1 else 0))].append(x)
    out = []
    for (y, _side), xs in sorted(groups.items()):
        if len(xs) >= 50:
            out.append((y, min(xs), max(xs), len(xs)))
    return out


def report(stage, acc) -> dict:
    left, right, top, bottom = stage.blast
    line = {"left": left, "right": right, "top": top, "bottom": bottom}
    zones = {}
    for z, bound in line.items():
        ks = [k for k in acc["kos"] if k["zone"] == z]
        axis = 0 if z in ("left", "right") else 1
        sign = -1 if z in ("left", "bottom") else 1
        if not ks:
            zones[z] = dict(kos=0, table=bound)
            continue
        inside = max(sign * k["before"][axis] for k in ks) * sign  # deepest point before a KO
        past = min(sign * k["at"][axis] for k in ks) * sign  # shallowest KO point
        zones[z] = dict(kos=len(ks), table=bound, last_inside=inside, first_past=past,
                        consistent=bool(sign * inside <= sign * bound <= sign * past))
    return dict(
        stage=stage.key, kos=len(acc["kos"]), kos_inside_all_zones=sum(k["zone"] is None for k in acc["kos"]),
        zones=zones,
        dead_frames=stats(acc["dead_frames"]), descent_frames=stats(acc["descent_frames"]),
        wait_frames=stats(acc["wait_frames"]), invuln_after_platform=stats(acc["invuln_after"]),
        descent_top_y=stats(acc["descent_top"]),
        wait_positions=sorted(Counter(acc["wait_pos"]).items()), wait_moved=stats(acc["wait_moved"]),
        edge_table=stage.edge, edge_teeter_x=stats(acc["edge"]),
        respawn_table=(stage.respawn_x, stage.respawn_y), descent_top_table=stage.descent_top,
        ledge_table=stage.ledge, ledge_hang_x=stats(acc["ledge"]),
        platforms_table=[(p.y, p.left, p.right) for p in stage.platforms if p.right > p.left],
        platforms_seen=platform_clusters(acc["platform_pts"]),
    )


def differences(r) -> list[str]:
    out = []
    for z, d in r["zones"].items():
        if d["kos"] and not d["consistent"]:
            out.append(f"{z} blast zone {d['table']:g}: KOs bracket it between {d['last_inside']:g} and {d['first_past']:g}")
    xs, sy = r["respawn_table"]
    for (port, x, y), n in r["wait_positions"]:
        if abs(y - sy) > 0.01:
            out.append(f"respawn height {sy:g}: port {port} waited at y {y:g} {n} times")
        elif port in (1, 2) and abs(x - xs[port - 1]) > 0.01:
            out.append(f"respawn x of player {port} {xs[port - 1]:g}: port {port} waited at x {x:g} {n} times")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replays", default="../shared/replays")
    ap.add_argument("--per-stage", type=int, default=0, help="games per stage (0 = all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    folder = Path(args.replays)
    with open(folder / "manifest.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["stage_id"].isdigit() and int(r["stage_id"]) in BY_ID]
    taken = defaultdict(int)
    accs = {s.slippi_id: defaultdict(list) for s in STAGES}
    for row in rows:
        sid = int(row["stage_id"])
        if args.per_stage and taken[sid] >= args.per_stage:
            continue
        try:
            sid, ports = read_raw(folder / row["file"])
        except Exception as exc:  # one unreadable replay is skipped, not fatal
            print(f"skip {row['file']}: {exc}")
            continue
        taken[sid] += 1
        measure_game(BY_ID[sid], ports, accs[sid])
    reports = [dict(report(s, accs[s.slippi_id]), games=taken[s.slippi_id]) for s in STAGES]
    if args.json:
        print(json.dumps(reports, indent=1))
        return 0
    for r in reports:
        print(f"== {r['stage']} ({r['games']} games, {r['kos']} KOs, {r['kos_inside_all_zones']} inside every zone)")
        for z, d in r["zones"].items():
            if d["kos"]:
                print(f"  {z:6} table {d['table']:8g}  {d['kos']:4} KOs: last inside {d['last_inside']:9.3f}  "
                      f"first past {d['first_past']:9.3f}  {'ok' if d['consistent'] else 'DIFFERS'}")
            else:
                print(f"  {z:6} table {d['table']:8g}  no KOs")
        for k in ("dead_frames", "descent_frames", "wait_frames", "invuln_after_platform"):
            print(f"  {k}: {r[k]}")
        print(f"  descent starts at y {r['descent_top_y']} (table {r['descent_top_table']:g})")
        print(f"  waits at (port, x, y): count {r['wait_positions']}; moves while waiting: {r['wait_moved']}")
        print(f"  edge table {r['edge_table']:g}, teetering |x| {r['edge_teeter_x']}")
        print(f"  ledge table {r['ledge_table']:g}, CliffWait |x| {r['ledge_hang_x']}")
        print(f"  platforms table {r['platforms_table']}")
        print(f"  platforms seen (y, x min, x max, frames) {r['platforms_seen']}")
        for d in differences(r):
            print(f"  differs: {d}")
    zones = [z for r in reports for z in r["zones"].values() if z["kos"]]
    print(f"== {sum(r['games'] for r in reports)} games, {sum(r['kos'] for r in reports)} KOs: "
          f"{sum(z['consistent'] for z in zones)} of {len(zones)} blast-zone values bracket their KOs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
