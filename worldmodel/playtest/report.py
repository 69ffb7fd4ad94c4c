"""The playtest's table (markdown) and picture (scenario trajectories over each stage)."""
from __future__ import annotations

from pathlib import Path

from .. import stages as S
from .replays import SELF_DESTRUCT
from .scenarios import NAMES


def _cell(r: dict) -> str:
    if r["pass"] is None:
        return "n/a"
    v = "-" if r["value"] is None else f"{r['value']:g}"
    n = len(r["measured"].get("sessions", ()))
    of = f" ({r['passed_sessions']}/{n})" if n else ""  # several sessions: the worst value, how many passed
    return f"{'PASS' if r['pass'] else 'FAIL'} {v}{of}"


def _pf(ok) -> str:
    return "PASS" if ok else "FAIL"


UNITS = {"walk_off_left": "frames to KO", "walk_off_right": "frames to KO", "idle": "max drift, units",
         "turn_walk_in": "units walked, the lesser", "turn_walk_out": "units walked, the lesser",
         "jump": "landing, units off", "short_hop_fastfall": "landing, units off",
         "drop_through": "landing, units off", "approach_smash": "frames to KO", "bot_game": "frames to the end"}


def markdown(rep: dict) -> str:
    stages = rep["stages"]
    short = {"final_destination": "FD", "battlefield": "BF", "dream_land": "DL", "fountain_of_dreams": "FoD",
             "pokemon_stadium": "PS", "yoshis_story": "YS"}
    lines = [f"Playtest of `{rep['model']}`{' (--quick)' if rep['quick'] else ''}: {rep['seconds']} s wall.", "",
             "| scenario (value) | " + " | ".join(short.get(s, s) for s in stages) + " | passed |",
             "|---" * (len(stages) + 2) + "|"]
    for name in NAMES:
        if name not in rep["scenarios"]:
            continue
        row = rep["scenarios"][name]
        s = rep["scenario_summary"][name]
        lines.append(f"| {name} ({UNITS[name]}) | " + " | ".join(_cell(row[k]) for k in stages)
                     + f" | {s['passed']}/{s['passed'] + s['failed']} |")
    rp = rep.get("replay")
    if rp:
        lines += ["", "| replay games | games | frames | violations /10k raw (post, replay) | KO/min model (replay) "
                  "| hits/min model (replay) | airborne model (replay) | x W1 units | interventions /10k "
                  "| < 1 violation /10k | KO/min within 25 % |",
                  "|---" * 11 + "|"]
        for key, r in list(rp["per_stage"].items()) + [("overall", rp["overall"])]:
            ko = "-" if r["kos_per_min"] is None else f"{r['kos_per_min']:.2f} ({r['kos_per_min_replay']:.2f})"
            hits = "-" if r.get("hits_per_min") is None else f"{r['hits_per_min']:.1f} ({r['hits_per_min_replay']:.1f})"
            air = "-" if r["airborne_share"] is None else \
                f"{100 * r['airborne_share']:.0f} % ({100 * (r['airborne_share_replay'] or 0):.0f} %)"
            lines.append(f"| {short.get(key, key)} | {r['games']} | {r['frames']} | {r['violations_raw_per_10k']} "
                         f"({r['violations_post_per_10k']}, {r['violations_replay_per_10k']}) | {ko} | {hits} | {air} "
                         f"| {r['x_w1']} | {r['interventions_per_10k']} | {_pf(r['pass_invariants'])} "
                         f"| {_pf(r['pass_ko_rate'])} |")
        o = rp["overall"]
        lines += ["", "raw violations by invariant /10k: " + ", ".join(
            f"{k} {v}" for k, v in o["by_invariant_raw_per_10k"].items() if v is not None)]
        if "ko_zones" in o:
            lines += ["", f"KOs model (replay): {o['kos']} ({o['kos_replay']}); by blast zone: " + ", ".join(
                f"{z} {o['ko_zones'][z]} ({o['ko_zones_replay'][z]})" for z in o["ko_zones"])
                + f"; with no hit on the fighter in the {SELF_DESTRUCT} frames before: {o['kos_no_hit']} "
                f"({o['kos_no_hit_replay']})"]
    a = rep["acceptance"]
    lines += ["", "Acceptance: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in a.items())]
    return "\n".join(lines)


def plot(rep: dict, traj: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = rep["stages"]
    cols = 2 if len(stages) > 1 else 1
    rows = (len(stages) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(8 * cols, 4.2 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax in axes.ravel()[len(stages):]:
        ax.axis("off")
    for ax, key in zip(axes.ravel(), stages):
        st = S.stage(key)
        left, right, top, bottom = st.blast
        ax.add_patch(plt.Rectangle((left, bottom), right - left, top - bottom, fill=False, ec="red", lw=0.8))
        ax.plot([-st.edge, st.edge], [0, 0], "k-", lw=3)
        for p in st.platforms:
            ax.plot([p.left, p.right], [p.y, p.y], "k-", lw=2)
        for c, name in zip(colours, NAMES):
            xy = traj.get(name, {}).get(key)
            if xy is None or not len(xy):
                continue
            step = max(1, len(xy) // 3000)
            r = rep["scenarios"][name][key]
            lab = f"{name} {'PASS' if r['pass'] else 'FAIL'}"
            for p in range(2):
                ax.plot(xy[::step, p, 0], xy[::step, p, 1], "-", color=c, lw=0.8, alpha=0.8 if p == 0 else 0.35,
                        label=lab if p == 0 else None)
        ax.set_xlim(left - 10, right + 10)
        ax.set_ylim(bottom - 10, top + 10)
        ax.set_aspect("equal")
        ax.set_title(f"{st.name}: scenario trajectories (P1 solid, P2 faint), after the rules", fontsize=9)
        ax.legend(fontsize=6, loc="upper left", ncol=2, framealpha=0.6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
