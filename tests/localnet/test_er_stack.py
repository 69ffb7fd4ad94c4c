"""The real local chain stack: the project's base node (LiteSVM behind JSON-RPC + PubSub) and
MagicBlock's ephemeral validator 0.8.3, started and stopped by onchain.localnet, with the remote
backend talking to both. Ports are picked free per run; every process is stopped at the end."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from conftest import BASES, REAL_ER, keyfile, local_stack, wait_until
from onchain.sdk import errors
from onchain.sdk.wire import ControllerInput
from onchain.backends.embedded import EmbeddedBackend
from onchain.localnet.stack import ER_IDENTITY, Localnet, free_port_block, rpc
from onchain.backends.remote import RemoteBackend
from worldmodel.randmodel import random_cartridge

pytestmark = REAL_ER

DLP = "DELeGGvXpWV2fqJUhqcF5ZSYMS4JTLjteaAMARRSaeSh"
CLOCK = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")
MODEL_ID, SESSION_ID = 1, 7


@pytest.fixture(params=BASES, scope="module")
def stack(request, tmp_path_factory, so_path):
    yield from local_stack(tmp_path_factory, so_path, "localnet", base=request.param)


@pytest.fixture(scope="module")
def cart():
    return random_cartridge("micro", seed=3)


@pytest.fixture(scope="module")
def players():
    return Keypair(), Keypair(), Keypair()  # model authority, player 1, player 2


def open_base(stack, cart, players):
    """A remote backend on the stack's base node with the model uploaded and a session active."""
    b = RemoteBackend(stack.base_url)
    for k in (b.payer, *players):
        b.airdrop(k.pubkey(), 100 * 10**9)
    b.upload_model(cart, MODEL_ID, players[0])
    assert b.create_session(SESSION_ID, MODEL_ID, players[1]).ok
    assert b.join_session(SESSION_ID, players[2]).ok
    yield b
    b.close()


@pytest.fixture(scope="module")
def base(stack, cart, players):
    yield from open_base(stack, cart, players)


# The clone test gets a stack of its own: it asserts what the ER does on its very first clone.
@pytest.fixture(params=BASES)
def fresh_stack(request, tmp_path_factory, so_path):
    yield from local_stack(tmp_path_factory, so_path, "localnet-clone", base=request.param)


@pytest.fixture
def fresh_base(fresh_stack, cart, players):
    yield from open_base(fresh_stack, cart, players)


def test_base_node_serves_what_the_validator_asks(stack):
    s1 = rpc(stack.base_url, "getSlot")
    time.sleep(0.5)
    assert rpc(stack.base_url, "getSlot") > s1  # slots only move forward, also when idle
    clock = rpc(stack.base_url, "getMultipleAccounts", [[str(CLOCK)], {"encoding": "base64+zstd"}])["value"][0]
    assert clock["data"][1] == "base64+zstd" and clock["owner"] == "Sysvar1111111111111111111111111111111111111"
    assert rpc(stack.base_url, "getBalance", [ER_IDENTITY])["value"] >= 5 * 10**9
    dlp = rpc(stack.base_url, "getAccountInfo", [DLP, {"encoding": "base64"}])["value"]
    assert dlp["executable"]
    err = None
    try:
        rpc(stack.base_url, "noSuchMethod")
    except Exception as e:
        err = str(e)
    assert err and "-32601" in err


def test_er_runs_against_the_base(stack):
    assert rpc(stack.er_url, "getIdentity")["identity"] == ER_IDENTITY
    s1 = rpc(stack.er_url, "getSlot")
    assert wait_until(lambda: rpc(stack.er_url, "getSlot") > s1, 3.0)
    # The ER clones the program from the base on first use.
    prog = rpc(stack.er_url, "getAccountInfo", [stack.state["program_id"], {"encoding": "base64"}])["value"]
    assert prog is not None and prog["executable"]


def test_remote_session_on_base_matches_embedded_bit_for_bit(base, cart, players):
    _, p1, p2 = players
    emb = EmbeddedBackend()
    emb.upload_model(cart, MODEL_ID)
    assert emb.create_session(SESSION_ID, MODEL_ID, p1).ok and emb.join_session(SESSION_ID, p2).ok
    start = base.session(SESSION_ID).frame
    assert start == 0
    for f in range(4):
        for be in (base, emb):
            assert be.submit_input(SESSION_ID, p1, f, ControllerInput(stick_x=20 * f, buttons=1)).ok
            assert be.submit_input(SESSION_ID, p2, f, ControllerInput(stick_y=-30, buttons=4 | 16)).ok
            out = be.run_inference(SESSION_ID, f)
            assert out.ok, out.error
    got, want = base.session(SESSION_ID), emb.session(SESSION_ID)
    assert got.frame == 4 and got.fighters == want.fighters
    plan = base._plans[MODEL_ID]  # measured on the first frame, then packed
    assert sum(plan) == base._model(MODEL_ID)[1] and all(n > 0 for n in plan)


def test_remote_errors_carry_the_program_code_and_change_nothing(base, players):
    before = base.session(SESSION_ID)
    out = base.run_inference(SESSION_ID, before.frame - 1)  # a frame already computed
    assert not out.ok and errors.custom_code(out.error) == errors.StaleFrame, out.error
    stranger = Keypair()
    base.airdrop(stranger.pubkey(), 10**9)
    out = base.submit_input(SESSION_ID, stranger, before.frame, ControllerInput())
    assert not out.ok and errors.custom_code(out.error) is not None, out.error
    assert base.session(SESSION_ID) == before


def test_account_cloned_into_er_follows_base_updates(fresh_stack, fresh_base):
    stack, base = fresh_stack, fresh_base
    er = RemoteBackend(stack.er_url)
    try:
        base_view = base.session(SESSION_ID)
        assert er.session(SESSION_ID) == base_view  # cloned from the base on first read
        seen: list[int] = []
        unsubscribe = er.subscribe_session(SESSION_ID, lambda v: seen.append(v.frame))
        assert wait_until(lambda: base_view.frame in seen, 15.0), seen
        assert base.run_inference(SESSION_ID, base_view.frame).ok
        assert wait_until(lambda: base_view.frame + 1 in seen, 15.0), seen
        assert er.session(SESSION_ID).fighters == base.session(SESSION_ID).fighters
        unsubscribe()
        # Not delegated: the ER refuses to write it, and says so.
        out = er.run_inference(SESSION_ID, base_view.frame + 1, MODEL_ID)
        assert not out.ok and "writable" in out.error, out.error
    finally:
        er.close()


def test_send_async_does_not_block_and_keeps_lane_order(base, players):
    _, p1, _ = players
    frame = base.session(SESSION_ID).frame
    t0 = time.perf_counter()
    futs = [base.submit_input_async(SESSION_ID, p1, frame + k, ControllerInput(stick_x=k)) for k in range(10)]
    queued = time.perf_counter() - t0
    outs = [f.result(10) for f in futs]
    assert all(o.ok for o in outs), [o.error for o in outs]
    assert queued < sum(o.seconds for o in outs)  # handing off took less than sending


def test_crank_cli_advances_the_session_once_per_tick(stack, base, players, tmp_path):
    frame = base.session(SESSION_ID).frame
    key = keyfile(tmp_path / "creator.json", players[1])  # only a player or the crank key may crank
    res = subprocess.run([sys.executable, "-m", "onchain.tools.crank", "--url", stack.base_url, "--session",
                          str(SESSION_ID), "--hz", "20", "--frames", "10", "--keypair", key],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert '"frames": 10' in res.stdout and "tick_jitter_ms_p99" in res.stdout
    assert base.session(SESSION_ID).frame == frame + 10


def test_subscription_survives_a_restarted_node(tmp_path, so_path):
    """The WebSocket drops when the node goes away; the backend reconnects with back-off and renews."""
    port = free_port_block(2, start=40000)
    cmd = [sys.executable, "-m", "onchain.localnet.basenode", "--port", str(port)]

    def start():
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: _healthy(f"http://127.0.0.1:{port}"), 15.0)
        return p

    node = start()
    b = RemoteBackend(f"http://127.0.0.1:{port}", request_timeout=2.0)
    try:
        ticks = []
        lock = threading.Lock()

        def on_clock(data, slot):
            with lock:
                ticks.append(slot)
        b.subscribe_account(CLOCK, on_clock)
        assert wait_until(lambda: len(ticks) >= 3, 5.0)
        node.terminate()
        node.wait(10)
        time.sleep(0.5)
        n = len(ticks)
        node = start()
        assert wait_until(lambda: len(ticks) >= n + 3, 15.0), (n, len(ticks))
        assert b.reconnects >= 1
    finally:
        b.close()
        node.terminate()
        node.wait(10)


def _healthy(url):
    try:
        return rpc(url, "getHealth", timeout=0.5) == "ok"
    except Exception:
        return False


def test_profiles_name_the_local_stack_and_devnet(tmp_path):
    from onchain.backends import profiles

    local = profiles.load("local-er")
    net = Localnet()
    assert (local["url"], local["ws_url"], local["base_url"]) == (net.er_url, net.er_ws, net.base_url)
    assert local["ephemeral"] is True and local["kind"] == "remote"
    assert profiles.load("embedded")["kind"] == "embedded"
    assert profiles.load("devnet")["url"].startswith("https://")
    with pytest.raises(KeyError):
        profiles.load("mainnet")
    # settings.yaml is where they are read from: an edit there is what every tool sees
    edited = tmp_path / "settings.yaml"
    edited.write_text("backend:\n  profiles:\n    local-er:\n      url: http://10.0.0.2:7799\n")
    assert profiles.load("local-er", edited)["url"] == "http://10.0.0.2:7799"
    assert profiles.load("local-er", edited)["base_url"] == net.base_url
