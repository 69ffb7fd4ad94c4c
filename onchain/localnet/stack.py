"""A local chain stack on 127.0.0.1: a base chain and MagicBlock's ephemeral validator (the ER).

    python -m onchain.localnet up [--base own|agave] [--base-port 8899] [--er-port 7799]
                                  [--listen 127.0.0.1] [--account ID FILE.json]...
    python -m onchain.localnet up --profile local-er-agave     (ports and base from settings.yaml)
    python -m onchain.localnet status
    python -m onchain.localnet down

Base chain (`--base`, or the environment's MLR_BASE; default `own`):
  own    the project's own `onchain.localnet.basenode` (JSON-RPC + WebSocket over LiteSVM), always available;
  agave  Anza's `solana-test-validator`, built by `make setup-validator` into .tools/agave/ (or on
         PATH): the real validator, 400 ms slots, its own ledger in the run folder.
Either way loaded at genesis with the delegation program and accounts of the ER's npm package
(bin/local-dumps, what MagicBlock's mbTestValidator.js loads) and the world-model program
(build/world_model.so at onchain.backends.svm.PROGRAM_ID). The ER is @magicblock-labs/ephemeral-validator 0.8.3 installed by
scripts/setup_er.sh, started through Debian 13's loader with the open-files shim, inside a private
tmux server because its terminal UI exits without a terminal (NOTES §4). Its own HTTP clients go
through onchain.localnet.er_proxy on ER port + 3 (it keeps the UI's block polling from stalling the ER).

Everything lives in one run folder (default build/localnet/): state.json (ports and pids), logs
(base.log, proxy.log, er.stderr, er.pane), the ER's config and its storage, wiped at every `up`.
`down` stops exactly the processes recorded there: the ER by its Escape key (a clean exit), then
SIGTERM; the proxy and the base node by SIGTERM; then the private tmux server.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from onchain.backends.svm import DEFAULT_SO, PROGRAM_ID, ROOT

ER_DIR = ROOT / ".er"
ER_BIN = ER_DIR / "npm/node_modules/@magicblock-labs/ephemeral-validator-linux-x64/bin/ephemeral-validator"
DUMPS = ER_DIR / "npm/node_modules/@magicblock-labs/ephemeral-validator/bin/local-dumps"
GLIBC = ER_DIR / "glibc/lib"
SHIM = ER_DIR / "nofile_shim.so"
DEFAULT_RUN_DIR = ROOT / "build" / "localnet"
ER_IDENTITY = "mAGicPQYBMvcYveUZA5F5UNNwyHvfYh5xkLS2Fr1mev"  # the ER's default identity, funded in the dumps
AGAVE_BIN = ROOT / ".tools" / "agave" / "bin" / "solana-test-validator"  # make setup-validator
BASES = ("own", "agave")
AGAVE_PORTS = "61000-61999"
AGAVE_NICE = 10


def agave_validator() -> str | None:
    """The solana-test-validator `--base agave` runs: the project's build, else one on PATH."""
    return str(AGAVE_BIN) if AGAVE_BIN.is_file() else shutil.which("solana-test-validator")

# The ER's own HTTP clients (its terminal UI, its task scheduler) go through onchain.localnet.er_proxy, which
# keeps the UI from JSON-encoding the blocks that clone the model's weights (the cause of the ER's
# stalls; see that module). The ER reaches the base chain by this name, exempted from the proxy.
BASE_HOST_FOR_ER = "localhost"


class LocalnetError(RuntimeError):
    pass


def rpc(url: str, method: str, params: list | None = None, timeout: float = 2.0):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        doc = json.loads(r.read())
    if "error" in doc:
        raise LocalnetError(f"{method}: {doc['error']}")
    return doc["result"]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is fine
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_block(n: int, start: int = 20000, stop: int = 60000) -> int:
    """The first port p >= start such that p .. p+n-1 are all free (for tests)."""
    p = start + (os.getpid() * 7) % 10000
    for _ in range(2000):
        if all(port_free(p + i) for i in range(n)):
            return p
        p = start + (p - start + n) % (stop - start)
    raise LocalnetError("no free ports")


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


class Localnet:
    """One base + ER stack. Use as a context manager or call up()/down()."""

    def __init__(self, run_dir: Path | str = DEFAULT_RUN_DIR, base_port: int = 8899, er_port: int = 7799,
                 accounts: list[tuple[str, str]] | None = None, programs: list[tuple[str, str]] | None = None,
                 so_path: Path | str = DEFAULT_SO, listen: str = "127.0.0.1", base: str | None = None):
        """`listen`: the address both nodes bind (127.0.0.1; 0.0.0.0 to let other machines play).
        `base`: "own" (onchain.localnet.basenode) or "agave" (solana-test-validator); default MLR_BASE, else own."""
        self.listen = listen
        self.base = base or os.environ.get("MLR_BASE") or "own"
        if self.base not in BASES:
            raise LocalnetError(f"unknown base {self.base!r}: one of {', '.join(BASES)}")
        self.dir = Path(run_dir).resolve()
        self.base_port, self.er_port = base_port, er_port
        self.accounts = list(accounts or [])
        self.programs = [(str(PROGRAM_ID), str(so_path))] + list(programs or [])
        self.tmux = "mlr-er-" + hashlib.sha1(str(self.dir).encode()).hexdigest()[:10]
        self.state: dict = {}

    # -- endpoints -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port}"

    @property
    def base_ws(self) -> str:
        return f"ws://127.0.0.1:{self.base_port + 1}"

    @property
    def er_url(self) -> str:
        return f"http://127.0.0.1:{self.er_port}"

    @property
    def proxy_port(self) -> int:
        """onchain.localnet.er_proxy, for the ER's own HTTP clients."""
        return self.er_port + 3

    @property
    def er_ws(self) -> str:
        return f"ws://127.0.0.1:{self.er_port + 1}"

    def __enter__(self) -> "Localnet":
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    @classmethod
    def from_state(cls, run_dir: Path | str = DEFAULT_RUN_DIR) -> "Localnet":
        state = json.loads((Path(run_dir) / "state.json").read_text())
        net = cls(run_dir, state["base_port"], state["er_port"], base=state.get("base", "own"))
        net.state = state
        net.tmux = state["tmux"]
        return net

    # -- up ------------------------------------------------------------------------------
    def up(self, timeout: float = 30.0) -> None:
        for path in (ER_BIN, GLIBC / "ld-linux-x86-64.so.2", SHIM, DUMPS):
            if not path.exists():
                raise LocalnetError(f"{path} missing: run `bash scripts/setup_er.sh`")
        if not Path(self.programs[0][1]).exists():
            raise LocalnetError(f"{self.programs[0][1]} missing: run `make build`")
        if self.base == "agave" and agave_validator() is None:
            raise LocalnetError("--base agave: solana-test-validator not found: run `make setup-validator`")
        if (self.dir / "state.json").exists():
            old = json.loads((self.dir / "state.json").read_text())
            if any(alive(old.get(k)) for k in ("base_pid", "proxy_pid", "er_pid")):
                raise LocalnetError(f"a stack from {self.dir} is still running: `python -m onchain.localnet down`")
        for port in (self.base_port, self.base_port + 1, self.er_port, self.er_port + 1, self.er_port + 2,
                     self.proxy_port):
            if not port_free(port):
                raise LocalnetError(f"port {port} on 127.0.0.1 is in use")
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.dir / "er-storage", ignore_errors=True)
        shutil.rmtree(self.dir / "base-ledger", ignore_errors=True)
        self.state = {"base_port": self.base_port, "er_port": self.er_port, "tmux": self.tmux,
                      "base_url": self.base_url, "base_ws": self.base_ws, "er_url": self.er_url, "er_ws": self.er_ws,
                      "program_id": str(PROGRAM_ID), "er_identity": ER_IDENTITY, "base": self.base}
        try:
            self._start_base()
            if self.base == "own":  # agave runs niced on purpose (_start_base)
                self._normal_priority(self.state["base_pid"])
            self._save()
            self._wait(self.base_url, "base", self.state["base_pid"], timeout, self.dir / "base.log")
            if self.base == "agave":
                self._wait_first_slot(timeout)
            self._start_proxy()
            self._save()
            self._wait_proxy(timeout)
            self._start_er()
            self._normal_priority(self.state["er_pid"])
            self._save()
            self._wait(self.er_url, "ER", self.state["er_pid"], timeout, self.dir / "er.stderr")
            self._normal_priority(self.state["er_pid"])  # again: the threads it started meanwhile
        except BaseException:
            self.down()
            raise

    @staticmethod
    def _normal_priority(pid: int) -> None:
        """Both nodes are light (a few % of a core) but must keep pace (the ER makes a block every
        50 ms and stalls its account cloning when starved). Started from a niced command (e.g.
        `nice make test`) they would inherit its low priority; put them back to normal where allowed.
        Niceness is per thread on Linux, so every thread is reset, not just the main one: the ER's
        main and RPC threads spin while they wait on its async runtime, and with only those two at
        normal priority the runtime's niced threads starved and reads stalled for more than 30 s."""
        try:
            tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            tasks = [pid]
        for tid in tasks:
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) > 0:
                    os.setpriority(os.PRIO_PROCESS, tid, 0)
            except (PermissionError, ProcessLookupError, OSError):
                pass

    def _save(self):
        (self.dir / "state.json").write_text(json.dumps(self.state, indent=1))

    def _start_base(self):
        log = open(self.dir / "base.log", "wb")
        own = self.base == "own"
        if own:
            cmd = [sys.executable, "-m", "onchain.localnet.basenode", "--host", self.listen, "--port", str(self.base_port),
                   "--dumps", str(DUMPS)]
            for pid, so in self.programs:
                cmd += ["--bpf-program", pid, so]
            for key, path in self.accounts:
                cmd += ["--account", key, path]
            if os.environ.get("MLR_BASE_DEBUG"):
                cmd.append("--verbose")
        else:  # the same programs and accounts as MagicBlock's mbTestValidator.js
            # RPC on base_port, PubSub on base_port + 1 (its convention), the faucet (requestAirdrop)
            # on base_port + 2, gossip on base_port + 3: all in the stack's block. Its other ports
            # (TPU, TVU, repair, ...) come from AGAVE_PORTS, above the blocks stacks take (20000-60000)
            # and Linux's ephemeral ports; it skips ports in use, so several stacks share the range.
            cmd = [agave_validator(), "--reset", "--quiet", "--bind-address", self.listen,
                   "--rpc-port", str(self.base_port), "--faucet-port", str(self.base_port + 2),
                   "--gossip-port", str(self.base_port + 3), "--dynamic-port-range", AGAVE_PORTS,
                   "--ledger", str(self.dir / "base-ledger")]
            for f in sorted(DUMPS.glob("*.so")):
                cmd += ["--bpf-program", f.stem, str(f)]
            for f in sorted(DUMPS.glob("*.json")):
                cmd += ["--account", f.stem, str(f)]
            for pid, so in self.programs:
                cmd += ["--bpf-program", pid, so]
            for key, path in self.accounts:
                cmd += ["--account", key, path]
        # solana-test-validator's banking-stage scheduler thread spins: ~100 % of a core while idle,
        # ~130 % for the whole process (measured on 2 cores). At normal priority it starves the ER
        # and the clients on a small machine; niced, it gets what they leave (its slots stay 400 ms).
        nice = (lambda: os.nice(AGAVE_NICE)) if not own else None
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=nice)
        self.state["base_pid"] = proc.pid
        self.state["base_kind"] = "basenode" if own else "solana-test-validator"

    def _start_proxy(self):
        log = open(self.dir / "proxy.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "onchain.localnet.er_proxy", "--port", str(self.proxy_port)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.state["proxy_pid"] = proc.pid

    def _wait_first_slot(self, timeout: float) -> None:
        """solana-test-validator answers RPC at slot 0, a second or two before it makes its first
        slot; the ER reads the base's Clock at start and every later update must be in a newer slot."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if rpc(self.base_url, "getSlot") > 0:
                    return
            except (OSError, LocalnetError, ValueError):
                pass
            time.sleep(0.1)
        raise LocalnetError(f"base at {self.base_url} made no slot in {timeout:.0f} s; see {self.dir / 'base.log'}")

    def _wait_proxy(self, timeout: float):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not alive(self.state["proxy_pid"]):
                raise LocalnetError(f"the ER's proxy exited during start:\n{self._tail(self.dir / 'proxy.log')}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.proxy_port}/", timeout=1.0) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise LocalnetError(f"the ER's proxy on port {self.proxy_port} not ready after {timeout:.0f} s")

    def _start_er(self):
        storage = self.dir / "er-storage"
        conf = self.dir / "er.toml"
        conf.write_text(
            'lifecycle = "ephemeral"\n'
            f'remotes = ["http://{BASE_HOST_FOR_ER}:{self.base_port}", "{self.base_ws}"]\n'
            f'storage = "{storage}"\n\n'
            f'[aperture]\nlisten = "{self.listen}:{self.er_port}"\n\n'
            '[ledger]\nblock-time = "50ms"\nreset = true\n\n'
            '[accountsdb]\nreset = true\n\n'
            '[task-scheduler]\nmin-interval = "1ms"\n\n'
            f'[metrics]\naddress = "127.0.0.1:{self.er_port + 2}"\n')
        (self.dir / "tmux.conf").write_text("set -g remain-on-exit on\nset -g history-limit 2000\n")
        proxy = f"http://127.0.0.1:{self.proxy_port}"
        via_proxy = (f"-u ALL_PROXY -u all_proxy http_proxy={proxy} HTTP_PROXY={proxy} "
                     f"no_proxy={BASE_HOST_FOR_ER} NO_PROXY={BASE_HOST_FOR_ER}")
        inner = (f"exec env {via_proxy} LD_PRELOAD={SHIM} {GLIBC}/ld-linux-x86-64.so.2 --library-path {GLIBC} "
                 f"{ER_BIN} {conf} 2>{self.dir / 'er.stderr'}")
        subprocess.run(["tmux", "-L", self.tmux, "-f", str(self.dir / "tmux.conf"), "new-session", "-d",
                        "-x", "160", "-y", "40", "-s", "er", inner], check=True, stdin=subprocess.DEVNULL)
        out = subprocess.run(["tmux", "-L", self.tmux, "list-panes", "-t", "er", "-F", "#{pane_pid}"],
                             check=True, capture_output=True, text=True).stdout.split()
        self.state["er_pid"] = int(out[0])

    def _wait(self, url: str, what: str, pid: int, timeout: float, log: Path):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not alive(pid):
                self._capture_pane()
                raise LocalnetError(f"{what} exited during start; see {log} and {self.dir / 'er.pane'}:\n"
                                    + self._tail(log) + self._tail(self.dir / "er.pane"))
            try:
                if rpc(url, "getHealth", timeout=1.0) == "ok":
                    rpc(url, "getLatestBlockhash", timeout=1.0)
                    return
            except (OSError, LocalnetError, ValueError):
                pass
            time.sleep(0.1)
        raise LocalnetError(f"{what} at {url} not ready after {timeout:.0f} s; see {log}")

    @staticmethod
    def _tail(path: Path, n: int = 20) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) + "\n"
        except OSError:
            return ""

    def _capture_pane(self):
        res = subprocess.run(["tmux", "-L", self.tmux, "capture-pane", "-p", "-t", "er"], capture_output=True,
                             text=True, stdin=subprocess.DEVNULL)
        if res.returncode == 0:
            (self.dir / "er.pane").write_text(res.stdout)

    def _stop_er(self) -> None:
        er_pid = self.state.get("er_pid")
        if alive(er_pid):
            self._capture_pane()
            subprocess.run(["tmux", "-L", self.tmux, "send-keys", "-t", "er", "Escape"], capture_output=True,
                           stdin=subprocess.DEVNULL)
            if not wait_gone(er_pid, 5.0):
                os.kill(er_pid, signal.SIGTERM)
                if not wait_gone(er_pid, 5.0):
                    os.kill(er_pid, signal.SIGKILL)
        subprocess.run(["tmux", "-L", self.tmux, "kill-server"], capture_output=True, stdin=subprocess.DEVNULL)
        self.state["er_pid"] = None

    def restart_er(self, timeout: float = 30.0) -> None:
        """Stop the ER and start a fresh one with the same identity and ports (fault tests). Its
        storage is wiped, so it knows only what the base chain holds: delegated accounts come back
        with their last committed state."""
        self._stop_er()
        self._start_er()
        self._normal_priority(self.state["er_pid"])
        self._save()
        self._wait(self.er_url, "ER", self.state["er_pid"], timeout, self.dir / "er.stderr")
        self._normal_priority(self.state["er_pid"])

    # -- down ----------------------------------------------------------------------------
    def down(self) -> None:
        self._stop_er()
        for key in ("proxy_pid", "base_pid"):
            pid = self.state.get(key)
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
                if not wait_gone(pid, 10.0):
                    os.kill(pid, signal.SIGKILL)
                    wait_gone(pid, 2.0)
            try:  # reap our own child, if we started it in this process
                os.waitpid(pid, os.WNOHANG) if pid else None
            except ChildProcessError:
                pass
        if self.state:
            self.state.update(er_pid=None, base_pid=None, proxy_pid=None)
            if self.dir.exists():
                self._save()

    # -- status --------------------------------------------------------------------------
    def status(self) -> dict:
        out = {"dir": str(self.dir)}
        out["proxy"] = {"port": self.proxy_port, "pid": self.state.get("proxy_pid"),
                        "running": alive(self.state.get("proxy_pid"))}
        for what, url, key in (("base", self.base_url, "base_pid"), ("er", self.er_url, "er_pid")):
            pid = self.state.get(key)
            entry = {"url": url, "pid": pid, "running": alive(pid)}
            if entry["running"]:
                try:
                    entry["slot"] = rpc(url, "getSlot")
                except (OSError, LocalnetError, ValueError) as e:
                    entry["error"] = str(e)
            out[what] = entry
        return out


def main(argv: list[str] | None = None):
    ap = argparse.ArgumentParser(description="Local base chain + MagicBlock ER on 127.0.0.1")
    ap.add_argument("command", choices=["up", "down", "status"])
    ap.add_argument("--dir", default=str(DEFAULT_RUN_DIR), help="run folder (state, logs, ER storage)")
    ap.add_argument("--base-port", type=int, help="default 8899 (or the profile's)")
    ap.add_argument("--er-port", type=int, help="default 7799 (or the profile's)")
    ap.add_argument("--listen", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1; 0.0.0.0 lets players on other machines in)")
    ap.add_argument("--account", nargs=2, action="append", default=[], metavar=("ID", "JSON"),
                    help="extra account for the base chain's genesis")
    ap.add_argument("--base", choices=BASES, help="the base chain: own (onchain.localnet.basenode, default) or agave "
                    "(solana-test-validator from `make setup-validator`); default: MLR_BASE, else own")
    ap.add_argument("--profile", help="a chain profile of settings.yaml (local-er, local-er-agave): its ports and "
                    "its local_base; --base, --base-port and --er-port override it")
    args = ap.parse_args(argv)
    if args.profile:
        from urllib.parse import urlparse

        from onchain.backends import profiles
        try:
            prof = profiles.load(args.profile)
        except KeyError as e:
            ap.error(str(e))
        if args.base_port is None and prof["base_url"]:
            args.base_port = urlparse(prof["base_url"]).port
        if args.er_port is None and prof["url"]:
            args.er_port = urlparse(prof["url"]).port
        args.base = args.base or prof.get("local_base") or None
    args.base_port = args.base_port or 8899
    args.er_port = args.er_port or 7799
    if args.command == "up":
        net = Localnet(args.dir, args.base_port, args.er_port, accounts=args.account, listen=args.listen, base=args.base)
        t0 = time.monotonic()
        net.up()
        print(f"base  {net.base_url}  {net.base_ws}  ({net.state['base_kind']}, pid {net.state['base_pid']})")
        print(f"ER    {net.er_url}  {net.er_ws}  (ephemeral-validator 0.8.3, pid {net.state['er_pid']})")
        print(f"program {PROGRAM_ID}; ER identity {ER_IDENTITY}; ready in {time.monotonic() - t0:.1f} s; "
              f"logs in {net.dir}")
        return
    if not (Path(args.dir) / "state.json").exists():
        print("no stack recorded in", args.dir)
        return
    net = Localnet.from_state(args.dir)
    if args.command == "status":
        print(json.dumps(net.status(), indent=1))
    else:
        net.down()
        print("stopped")


if __name__ == "__main__":
    main()
