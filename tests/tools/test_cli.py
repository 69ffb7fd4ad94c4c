"""The command line: demo-session, fuzz, and upload + session commands over a ledger file."""
import json


from onchain.__main__ import main
from worldmodel import randmodel as R


def run_cli(capsys, *argv) -> tuple[int, str]:
    rc = main(list(argv))
    return rc, capsys.readouterr().out


def test_demo_session(so_path, capsys):
    rc, out = run_cli(capsys, "--so", str(so_path), "demo-session", "--frames", "12", "--json")
    res = json.loads(out)
    assert rc == 0 and res["frames"] == 12 and res["rent_refunded"] is True
    assert 0 < res["cu_per_frame_p50"] <= res["cu_per_frame_max"]
    rc, again = run_cli(capsys, "--so", str(so_path), "demo-session", "--frames", "12", "--json")
    assert json.loads(again)["final_state_sha256"] == res["final_state_sha256"]  # deterministic
    rc, other = run_cli(capsys, "--so", str(so_path), "demo-session", "--frames", "12", "--seed", "1", "--json")
    assert json.loads(other)["final_state_sha256"] != res["final_state_sha256"]


def test_fuzz_small_run(so_path, capsys):
    rc, out = run_cli(capsys, "--so", str(so_path), "fuzz", "--cases", "400", "--seed", "3", "--json")
    res = json.loads(out)
    subs = res.pop("substitutions")
    assert res == {"cases": 400, "unexpected_success": 0, "panics": 0, "state_changed_on_failure": 0,
                   "program_instructions_missed": []}  # every instruction of the deployed program was sent
    assert all(n > 0 for n in subs.values()), subs  # another session's accounts, look-alikes, one account twice
    assert rc == 0


def test_fuzz_reaches_deep():
    """The fuzzer's cases get past the cheap checks: many distinct program errors, and
    some successes that the invariant oracle then inspects."""
    from onchain.tools import fuzz
    res = fuzz.run(400, 5)
    assert res["outcomes"].get("ok", 0) > 0
    assert len([k for k in res["outcomes"] if "(" in k]) >= 10


def test_upload_and_session_commands(so_path, tmp_path, capsys):
    R.random_cartridge("micro", 4).save(tmp_path / "model")
    base = ["--so", str(so_path), "--ledger", str(tmp_path / "ledger.json")]
    rc, out = run_cli(capsys, *base, "--keypair", str(tmp_path / "auth.json"), "upload", "--model",
                      str(tmp_path / "model"), "--model-id", "7", "--quiet")
    first = json.loads(out)
    assert rc == 0 and first["chunks_sent"] == first["chunks"] > 0
    rc, out = run_cli(capsys, *base, "--keypair", str(tmp_path / "auth.json"), "upload", "--model",
                      str(tmp_path / "model"), "--model-id", "7", "--quiet")
    assert rc == 0 and json.loads(out)["chunks_sent"] == 0  # resumed: everything already on chain
    assert run_cli(capsys, *base, "--keypair", str(tmp_path / "a.json"), "session", "create", "--id", "2",
                   "--model-id", "7")[0] == 0
    assert run_cli(capsys, *base, "--keypair", str(tmp_path / "b.json"), "session", "join", "--id", "2")[0] == 0
    rc, out = run_cli(capsys, *base, "session", "show", "--id", "2", "--json")
    view = json.loads(out)
    assert view["status"] == "active" and view["model_id"] == 7 and view["frame"] == 0
    assert run_cli(capsys, *base, "--keypair", str(tmp_path / "c.json"), "session", "close", "--id", "2")[0] == 1
    assert run_cli(capsys, *base, "--keypair", str(tmp_path / "a.json"), "session", "close", "--id", "2")[0] == 0
    assert run_cli(capsys, *base, "session", "show", "--id", "2")[0] == 1


def test_fuzz_oracle_counts_a_forbidden_success(so_path):
    """Negative control: a valid instruction presented as a must-fail mutation is
    counted as an unexpected success (the oracle is not blind), and the world is restored."""
    from onchain.tools import fuzz
    world = fuzz.World(so_path, 0)
    fz = fuzz.Fuzzer(world, 0)
    join = next(t for t in world.templates if t.name == "join_session")
    fz.random_payload = fz.mutate_valid = lambda: (join.ix, list(join.signers), True)
    fz.run_case()
    assert fz.counts["unexpected_success"] == 1
    assert world.be.session(fuzz.WAITING).status == 0  # restored after the success
