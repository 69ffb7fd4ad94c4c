"""`python -m onchain --url URL ...` on a real chain: the project's base node (LiteSVM behind
JSON-RPC) with the program deployed, driven through the remote backend. The upload is resumed
after an interruption (only the missing chunks go out), then a session is created, joined,
shown and closed from separate commands, as on the embedded ledger."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from solders.keypair import Keypair

from conftest import keyfile, wait_until
from onchain.sdk import upload
from onchain.localnet.stack import free_port_block, rpc
from onchain.backends.remote import RemoteBackend
from onchain.backends.svm import PROGRAM_ID
from worldmodel.randmodel import random_cartridge



@pytest.fixture(scope="module")
def node(so_path):
    port = free_port_block(2, start=45000)
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "onchain.localnet.basenode", "--port", str(port),
                             "--bpf-program", str(PROGRAM_ID), str(so_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _healthy(url), 20.0), "base node did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _healthy(url):
    try:
        return rpc(url, "getHealth", timeout=0.5) == "ok"
    except Exception:
        return False


def cli(*argv) -> tuple[int, str, str]:
    res = subprocess.run([sys.executable, "-m", "onchain", *argv], capture_output=True, text=True, timeout=300)
    return res.returncode, res.stdout, res.stderr


class Interrupted(Exception):
    pass


def test_upload_resumes_and_sessions_run_over_url(node, tmp_path):
    auth, p1, p2 = Keypair(), Keypair(), Keypair()
    model_dir = random_cartridge("micro", seed=4).save(tmp_path / "model")
    manifest, weights = upload.load_cartridge_bytes(model_dir)
    total = len(upload.chunk_plan(weights))

    # An upload cut off after 5 progress reports (the process died, the network went away). Over
    # RPC the chunks go out in waves (upload.waves) and are reported per wave, once landed.
    with RemoteBackend(node, payer=auth) as be:
        be.airdrop(auth.pubkey(), 10 * 10**9)
        done = []

        def progress(n):
            done.append(n)
            if len(done) == 5:
                raise Interrupted
        with pytest.raises(Interrupted):
            upload.upload(be, auth, 9, manifest, weights, progress)

    base = ["--url", node, "--keypair", keyfile(tmp_path / "auth.json", auth)]
    rc, out, err = cli(*base, "upload", "--model", str(model_dir), "--model-id", "9", "--quiet")
    assert rc == 0, out + err
    rep = json.loads(out.strip().splitlines()[-1])
    landed = sum(done)
    assert 5 <= landed < total
    assert rep["finalized"] and rep["chunks"] == total and rep["chunks_sent"] == total - landed, rep
    rc, out, err = cli(*base, "upload", "--model", str(model_dir), "--model-id", "9", "--quiet")
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["chunks_sent"] == 0, out + err

    k1, k2 = keyfile(tmp_path / "p1.json", p1), keyfile(tmp_path / "p2.json", p2)
    assert cli("--url", node, "--keypair", k1, "session", "create", "--id", "5", "--model-id", "9")[0] == 0
    assert cli("--url", node, "--keypair", k2, "session", "join", "--id", "5")[0] == 0
    rc, out, _ = cli("--url", node, "session", "show", "--id", "5", "--json")
    view = json.loads(out)
    assert rc == 0 and view["status"] == "active" and view["model_id"] == 9
    assert view["players"] == [str(p1.pubkey()), str(p2.pubkey())]
    rc, out, err = cli("--url", node, "--keypair", keyfile(tmp_path / "x.json", Keypair()), "session", "close",
                       "--id", "5")
    assert rc == 1 and "close failed" in err  # a stranger, before the timeout: refused, nothing changes
    assert cli("--url", node, "--keypair", k1, "session", "close", "--id", "5")[0] == 0
    rc, _, err = cli("--url", node, "session", "show", "--id", "5")
    assert rc == 1 and "does not exist" in err


def test_remote_crank_packs_tiny_wide_into_one_transaction(node):
    """The remote backend's plan over RPC: frame 1 one step per transaction (its CU read back),
    frame 2 packed counting the fixed cost of a transaction once per step (two transactions), which
    it then learns; from frame 3 the whole 1.34M-CU frame of tiny-wide is one transaction."""
    from onchain.sdk import steps

    auth, p1, p2 = Keypair(), Keypair(), Keypair()
    cart = random_cartridge("tiny-wide", seed=3)
    with RemoteBackend(node, payer=auth) as be:
        for k in (auth, p1, p2):
            be.airdrop(k.pubkey(), 100 * 10**9)
        be.upload_model(cart, 21, auth)
        assert be.create_session(21, 21, p1).ok and be.join_session(21, p2).ok
        txs = []
        for frame in range(4):
            out = be.run_inference(21, frame, fetch_cu=True)
            assert out.ok, out.error
            txs.append([o.cu for o in be.last_frame_txs])
        assert be.session(21).frame == 4
    assert len(txs[0]) == steps.steps_per_frame(cart.preset)
    assert len(txs[1]) == 2
    assert [len(t) for t in txs[2:]] == [1, 1] and all(t[0] <= steps.PACK_BUDGET for t in txs[2:]), txs


def test_transactions_with_inner_instructions_are_served(node, tmp_path):
    """getTransaction and getBlock answer for a transaction that made a CPI (init_manifest creates its
    account through the system program): the ER's committor and its transaction feed ask for both."""
    from onchain.sdk import instructions as I
    auth = Keypair()
    manifest, _ = upload.load_cartridge_bytes(random_cartridge("micro", seed=5).save(tmp_path / "m"))
    with RemoteBackend(node, payer=auth) as be:
        be.airdrop(auth.pubkey(), 10**9)
        out = be.send([I.init_manifest(PROGRAM_ID, auth.pubkey(), 77, manifest)], [auth])
        assert out.ok, out.error
    tx = rpc(node, "getTransaction", [out.signature, {"encoding": "json", "maxSupportedTransactionVersion": 0}])
    keys = tx["transaction"]["message"]["accountKeys"]
    ixs = tx["transaction"]["message"]["instructions"]
    ours = [i for i, ix in enumerate(ixs) if keys[ix["programIdIndex"]] == str(PROGRAM_ID)]
    (inner,) = tx["meta"]["innerInstructions"]
    assert [inner["index"]] == ours and len(inner["instructions"]) == 1
    cpi = inner["instructions"][0]
    assert keys[cpi["programIdIndex"]] == "11111111111111111111111111111111" and cpi["stackHeight"] == 2
    assert tx["meta"]["err"] is None and tx["meta"]["computeUnitsConsumed"] > 0
    block = rpc(node, "getBlock", [tx["slot"], {"encoding": "json", "maxSupportedTransactionVersion": 0}])
    assert [t["transaction"]["signatures"][0] for t in block["transactions"]] == [out.signature]
    assert block["transactions"][0]["meta"]["innerInstructions"] == tx["meta"]["innerInstructions"]


def test_er_proxy_forwards_all_but_get_block(node):
    """onchain.localnet.er_proxy (what the ER's own HTTP clients go through): requests reach their target
    unchanged, getBlock is answered at once with "slot skipped" (see the module for why)."""
    import urllib.request
    port = free_port_block(1, start=47000)
    proc = subprocess.Popen([sys.executable, "-m", "onchain.localnet.er_proxy", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"}))

    def via_proxy(method, params):
        body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": method, "params": params}).encode()
        req = urllib.request.Request(node, body, {"Content-Type": "application/json"})
        with opener.open(req, timeout=5) as r:
            return json.loads(r.read())
    try:
        assert wait_until(lambda: _healthy_proxy(port), 20.0), "proxy did not start"
        slot = via_proxy("getSlot", [])["result"]
        assert isinstance(slot, int) and slot <= rpc(node, "getSlot")
        assert via_proxy("getBalance", [str(PROGRAM_ID)])["result"]["value"] > 0
        skipped = via_proxy("getBlock", [slot, {"encoding": "json"}])
        assert skipped["id"] == 3 and skipped["error"]["code"] == -32007 and "result" not in skipped
    finally:
        proc.terminate()
        proc.wait(10)


def _healthy_proxy(port):
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5) as r:
            return r.read() == b"ok"
    except OSError:
        return False
