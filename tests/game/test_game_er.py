"""The game client itself against the real MagicBlock ER (issues 5 and 6 together).

The README's two-desktop commands, run as separate processes on one machine: `onchain.tools.er_session
host` / `join` put a session on the base chain and delegate it to the ER; two headless game clients
(`python -m game --headless --profile local-er --url ER --mode online --player 1|2 --script random`)
each send only their own player's inputs; a headless spectator (`--mode spectate`) watches; the crank
(`python -m onchain.tools.crank --wait-inputs`, lockstep) advances the session. Then `er_session end`
settles it on the base.

Because the crank runs a frame only once both players' inputs for it are in, the frames consumed
exactly the script's controllers, so the ER's final state must equal the embedded backend's after
the same inputs, bit for bit; the spectator must have received every frame, in order.
"""
from __future__ import annotations

import json
import select
import subprocess
import sys
import time

import pytest
from solders.keypair import Keypair

from game import scripts
from conftest import BASES, REAL_ER, game_summary, headless_game, keyfile, local_stack
from onchain.sdk import accounts as A
from onchain.sdk import pda
from onchain.backends.embedded import EmbeddedBackend
from onchain.backends.remote import RemoteBackend
from worldmodel.randmodel import random_cartridge

pytestmark = REAL_ER

SESSION_ID = 21
FRAMES = 120
PY = sys.executable


# Function scope (the module has one test): a rerun (REAL_ER) gets a fresh stack, since the
# session ids of a failed attempt are already taken on the old one.
@pytest.fixture(params=BASES)
def stack(request, tmp_path_factory, so_path):
    yield from local_stack(tmp_path_factory, so_path, "localnet-game", start=32000, base=request.param)


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float) -> str:
    """Read the process's stderr until a line contains `needle` (the client says it is listening)."""
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            seen.append(line)
            if needle in line:
                return line
        elif proc.poll() is not None:
            break
    raise AssertionError(f"no {needle!r} from {proc.args}: rc={proc.poll()} stderr={''.join(seen)[-2000:]}")


def game(*argv) -> subprocess.Popen:
    return headless_game(*argv, frames=FRAMES, wait=60)


summary = game_summary


def test_game_clients_play_and_watch_a_session_in_the_er(stack, tmp_path):
    p1, p2 = Keypair(), Keypair()
    k1, k2 = keyfile(tmp_path / "p1.json", p1), keyfile(tmp_path / "p2.json", p2)
    ends = ["--base", stack.base_url, "--er", stack.er_url]
    procs: list[subprocess.Popen] = []
    try:
        # Host and guest, as in README "Playing over the network".
        host = subprocess.Popen([PY, "-m", "onchain.tools.er_session", "host", "--session", str(SESSION_ID),
                                 "--keypair", k1, "--model", "random", *ends], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(host)
        join = subprocess.run([PY, "-m", "onchain.tools.er_session", "join", "--session", str(SESSION_ID), "--keypair", k2,
                               *ends], capture_output=True, text=True, timeout=180)
        assert join.returncode == 0 and "joined" in join.stdout, join.stdout + join.stderr
        out, _ = host.communicate(timeout=180)
        assert host.returncode == 0 and "live in the ER" in out, out

        # A spectator and the two players: the game client, headless, one process each.
        er = ["--profile", "local-er", "--url", stack.er_url, "--session", str(SESSION_ID)]
        spectator = game("--mode", "spectate", *er)
        players = [game("--mode", "online", *er, "--player", str(n), "--keypair", k, "--script", "random")
                   for n, k in ((1, k1), (2, k2))]
        procs += [spectator, *players]
        for proc in (spectator, *players):
            wait_for_line(proc, "listening at frame 0", 120)

        # Frame 0 cannot be told apart from the fresh InputBuffer (input frame 0, neutral) by the
        # lockstep crank, so wait until both clients' frame-0 inputs are visibly in.
        script = scripts.get("random")
        want0 = script(0)
        with RemoteBackend(stack.er_url, ephemeral=True) as watch:
            key = pda.input_buffer(watch.program_id, SESSION_ID)
            end = time.monotonic() + 60
            while time.monotonic() < end:
                buf = A.decode_inputs(watch.account_data(key) or b"")
                if buf is not None and buf.controllers == want0:
                    break
                time.sleep(0.05)
            assert buf is not None and buf.controllers == want0, buf

            crank = subprocess.run([PY, "-m", "onchain.tools.crank", "--url", stack.er_url, "--session", str(SESSION_ID),
                                    "--hz", "60", "--frames", str(FRAMES), "--wait-inputs", "20", "--keypair", k1,
                                    "--json", str(tmp_path / "crank.json")],
                                   capture_output=True, text=True, timeout=300)
            assert crank.returncode == 0, crank.stdout + crank.stderr
            stats = json.loads((tmp_path / "crank.json").read_text())
            final = watch.session(SESSION_ID)

        results = [summary(p, 120) for p in players]
        watched = summary(spectator, 120)
        print("crank", {k: v for k, v in stats.items() if not isinstance(v, list)})
        print("players", [{k: v for k, v in r.items() if k not in ("received_frames", "final_state")}
                          for r in results])
        assert stats["errors"] == 0 and stats["input_timeouts"] == 0, stats
        assert stats["frames"] == FRAMES and final.frame == FRAMES
        # Both players' inputs went in, every frame, and nothing was rejected.
        assert final.last_input_frame == (FRAMES - 1, FRAMES - 1)
        for r in results:
            assert not r["timed_out"] and r["input_errors"] == 0, r
            assert r["inputs_sent"] >= FRAMES and r["final_state"]["frame"] == FRAMES
        # The spectator received every frame, in order.
        got = watched["received_frames"]
        distinct = [f for k, f in enumerate(got) if k == 0 or f != got[k - 1]]
        assert distinct == list(range(FRAMES + 1)), distinct[:30]

        # The same inputs on the embedded backend: the same fighters, bit for bit.
        emb = EmbeddedBackend()
        emb.upload_model(random_cartridge("micro", seed=0), 1)  # what er_session host --model random uploads
        assert emb.create_session(SESSION_ID, 1, p1).ok and emb.join_session(SESSION_ID, p2).ok
        for f in range(FRAMES):
            c1, c2 = script(f)
            assert emb.submit_input(SESSION_ID, p1, f, c1).ok and emb.submit_input(SESSION_ID, p2, f, c2).ok
            assert emb.run_inference(SESSION_ID, f).ok
        want = emb.session(SESSION_ID)
        assert final.fighters == want.fighters
        fields = [results[0]["final_state"][f"p{n}"] for n in (1, 2)]
        assert [tuple(p.values()) for p in fields] == [tuple(f) for f in want.fighters]
        assert watched["final_state"]["p1"] == results[1]["final_state"]["p1"]

        # The host ends it: committed and undelegated, then closed on the base (rent back).
        end_ = subprocess.run([PY, "-m", "onchain.tools.er_session", "end", "--session", str(SESSION_ID), "--keypair", k1,
                               *ends], capture_output=True, text=True, timeout=180)
        assert end_.returncode == 0 and f"ended at frame {FRAMES}" in end_.stdout, end_.stdout + end_.stderr
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
