"""End to end in a real MagicBlock ER (issue 6): a session created on the base chain, delegated to
the ER, played there by two player processes while the crank process runs it at 60 Hz for 10 s and
a spectator process watches, then ended in the ER (commit + undelegate) and closed on the base."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from solders.keypair import Keypair

from conftest import BASES, REAL_ER, keyfile, local_stack
from onchain.sdk import delegation as D
from onchain.sdk import pda
from onchain.backends.remote import RemoteBackend
from worldmodel.randmodel import random_cartridge

pytestmark = REAL_ER

MODEL_ID, SESSION_ID = 1, 42
CRANK_SECONDS = 10


# Function scope (the module has one test): a rerun (REAL_ER) gets a fresh stack, since the
# session ids of a failed attempt are already taken on the old one.
@pytest.fixture(params=BASES)
def stack(request, tmp_path_factory, so_path):
    yield from local_stack(tmp_path_factory, so_path, "localnet-e2e", start=30000, base=request.param)


def test_session_played_in_the_er_and_settled_on_the_base(stack, tmp_path):
    auth, p1, p2 = Keypair(), Keypair(), Keypair()
    base = RemoteBackend(stack.base_url)
    er = RemoteBackend(stack.er_url, ephemeral=True)
    procs = []
    try:
        for k in (base.payer, auth, p1, p2):
            base.airdrop(k.pubkey(), 100 * 10**9)
        base.upload_model(random_cartridge("micro", seed=5), MODEL_ID, auth)
        assert base.create_session(SESSION_ID, MODEL_ID, p1, validator=er.identity()).ok
        assert base.join_session(SESSION_ID, p2).ok
        accounts = pda.session_accounts(base.program_id, SESSION_ID)
        rent = sum(base.account_info(k)["lamports"] for k in accounts)

        out = base.delegate_session(SESSION_ID, p1)
        assert out.ok, out.error
        assert all(base.account_info(k)["owner"] == D.DELEGATION_PROGRAM for k in accounts)
        assert base.account_info(D.buffer(base.program_id, accounts[0])) is None  # buffers closed
        out = er.start_in_er(SESSION_ID)
        assert out.ok, out.error

        py = sys.executable
        common = ["--url", stack.er_url, "--session", str(SESSION_ID)]
        watch = str(CRANK_SECONDS + 6)
        ready = [tmp_path / f"ready{n}" for n in range(3)]
        procs.append(subprocess.Popen([py, "-m", "onchain.tools.bot", "spectate", *common, "--seconds", watch,
                                       "--json", str(tmp_path / "spectator.json"), "--ready", str(ready[0])],
                                      stdout=subprocess.PIPE, text=True))
        for n, kp in ((1, p1), (2, p2)):
            procs.append(subprocess.Popen([py, "-m", "onchain.tools.bot", "play", *common, "--seconds", watch, "--seed",
                                           str(n), "--keypair", keyfile(tmp_path / f"p{n}.json", kp),
                                           "--json", str(tmp_path / f"player{n}.json"), "--ready", str(ready[n])],
                                          stdout=subprocess.PIPE, text=True))
        # The crank starts once every client has subscribed (on a loaded machine starting three
        # Python processes takes longer than any fixed wait).
        end = time.monotonic() + 60
        while not all(r.exists() for r in ready) and time.monotonic() < end:
            assert all(p.poll() is None for p in procs), "a client exited before subscribing"
            time.sleep(0.1)
        assert all(r.exists() for r in ready), "the clients did not subscribe within 60 s"
        # player 1 cranks (a stranger's key may not: run_inference checks the cranker)
        crank = subprocess.run([py, "-m", "onchain.tools.crank", *common, "--hz", "60", "--seconds", str(CRANK_SECONDS),
                                "--keypair", keyfile(tmp_path / "p1.json", p1),
                                "--json", str(tmp_path / "crank.json")], capture_output=True, text=True, timeout=120)
        assert crank.returncode == 0, crank.stdout + crank.stderr
        for p in procs:
            p.wait(60)
            assert p.returncode == 0
        stats = json.loads((tmp_path / "crank.json").read_text())
        spect = json.loads((tmp_path / "spectator.json").read_text())["frames"]
        players = [json.loads((tmp_path / f"player{n}.json").read_text()) for n in (1, 2)]

        final = er.session(SESSION_ID)
        print("crank", {k: v for k, v in stats.items() if not isinstance(v, list)})
        print("players", [{k: v for k, v in p.items() if k != "input_to_state_ms"} for p in players])
        assert stats["errors"] == 0, stats["last_error"]
        assert stats["frames"] >= 60 and final.frame == stats["frames"]
        # The spectator saw every frame, in order, up to the last one.
        distinct = [f for k, f in enumerate(spect) if k == 0 or f != spect[k - 1]]
        assert distinct == list(range(distinct[0], final.frame + 1)), distinct[:20]
        assert distinct[0] == 0
        # Both players' inputs went in.
        for p in players:
            assert p["inputs_ok"] > 0.5 * stats["frames"], p
        assert min(final.last_input_frame) > 0

        # End in the ER: commit + undelegate; the base gets the ER's state and the accounts back.
        out = er.close_session(SESSION_ID, p2)
        assert out.ok, out.error
        assert all(base.wait_owner(k, base.program_id, 15.0) for k in accounts)
        settled = base.session(SESSION_ID)
        assert settled.frame == final.frame and settled.fighters == final.fighters
        assert settled.last_input_frame == final.last_input_frame and settled.status == 2
        assert len(base.account_data(accounts[1])) == 32  # HiddenState: header only
        assert all(base.account_info(D.delegation_record(k)) is None for k in accounts)

        before = base.account_info(p1.pubkey())["lamports"]
        held = sum(base.account_info(k)["lamports"] for k in accounts)
        out = base.close_session(SESSION_ID, p1)
        assert out.ok, out.error
        assert base.account_info(p1.pubkey())["lamports"] == before + held
        assert all(base.account_data(k) is None for k in accounts)
        assert held > 0 and rent > 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        er.close()
        base.close()
