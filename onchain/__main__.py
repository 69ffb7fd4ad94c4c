"""Command line for the world-model program: `python -m onchain --help`.

Without --url every command runs on the embedded backend (the compiled program in an
in-process LiteSVM). Its accounts are kept between calls in a ledger file (--ledger),
so `upload`, then `session create`, `join`, `show`, `close` work as separate commands.
With --url URL (or --profile NAME) they run on that chain through the remote backend; the
signer pays the fees (on a local chain it is funded by airdrop). `upload` is resumable
there too: a rerun sends only the chunks the chain does not already hold byte for byte.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from solders.keypair import Keypair

from onchain.sdk.keys import read_or_create
from onchain.backends.svm import DEFAULT_SO, ROOT

DEFAULT_LEDGER = ROOT / "build" / "embedded-ledger.json"
DEFAULT_KEYPAIR = Path.home() / ".config" / "solana" / "id.json"
FALLBACK_KEYPAIR = ROOT / "build" / "cli-keypair.json"


def load_keypair(path: str | None) -> Keypair:
    """The signer: --keypair FILE (created with a new key if it does not exist), else
    ~/.config/solana/id.json, else a key kept in build/cli-keypair.json."""
    p = Path(path) if path else (DEFAULT_KEYPAIR if DEFAULT_KEYPAIR.exists() else FALLBACK_KEYPAIR)
    kp, created = read_or_create(p)
    if created:
        print(f"created a new keypair {kp.pubkey()} in {p}", file=sys.stderr)
    return kp


def endpoint(args) -> tuple[str | None, bool]:
    """(RPC URL, is an ER) of this command: --url, else the --profile's endpoint (models and session
    creation live on the base chain, so every command but `session show` goes to its base_url)."""
    url = getattr(args, "upload_url", None) or args.url
    if url:
        return url, args.ephemeral
    if not args.profile:
        return None, False
    from onchain.backends import profiles
    p = profiles.load(args.profile)
    if p["kind"] == "embedded":
        return None, False
    if args.command == "session" and args.action == "show" or not p["base_url"]:
        return p["url"], bool(p["ephemeral"])
    return p["base_url"], False


def open_backend(args, signer: Keypair | None = None):
    """The embedded backend (ledger file), or a RemoteBackend on --url / the profile's endpoint whose
    fee payer is the signer (funded by airdrop first on a local chain that has a faucet)."""
    url, ephemeral = endpoint(args)
    if url:
        from onchain.sdk.backend import BackendError
        from onchain.backends.remote import RemoteBackend
        be = RemoteBackend(url, payer=signer, ephemeral=ephemeral)
        if signer is not None and not ephemeral:
            try:
                info = be.account_info(signer.pubkey())
                if info is None or info["lamports"] < 10**9:
                    be.airdrop(signer.pubkey(), 10 * 10**9)
            except BackendError as e:  # no faucet (devnet rate limit, mainnet): say so, go on
                print(f"note: could not fund {signer.pubkey()} by airdrop: {e}", file=sys.stderr)
        return be
    from onchain.backends.embedded import EmbeddedBackend
    be = EmbeddedBackend(args.so)
    if Path(args.ledger).exists():
        be.load_ledger(args.ledger)
    return be


def save(be, args) -> None:
    if hasattr(be, "save_ledger"):  # the embedded backend's state between commands
        be.save_ledger(args.ledger)


def cmd_upload(args) -> int:
    from tqdm import tqdm

    from onchain.sdk import upload
    authority = load_keypair(args.keypair)
    be = open_backend(args, authority)
    manifest, weights = upload.load_cartridge_bytes(args.model)
    total = len(upload.chunk_plan(weights))
    with tqdm(total=total, unit="chunk", desc="upload", disable=args.quiet) as bar:
        try:
            rep = upload.upload(be, authority, args.model_id, manifest, weights, progress=bar.update)
        finally:
            save(be, args)  # embedded: keep what landed, so a rerun resumes (a chain keeps it anyway)
            if not hasattr(be, "save_ledger"):
                be.close()
    print(json.dumps({"model_id": rep.model_id, "chunks": rep.chunks_total, "chunks_sent": rep.chunks_sent,
                      "finalized": True, "txs": rep.txs, "cu": rep.cu}))
    return 0


def show(view) -> dict:
    from onchain.sdk.wire import STATUS_NAMES
    from worldmodel.cartridge import FIELDS
    return {
        "session_id": view.session_id, "model_id": view.model_id,
        "status": STATUS_NAMES.get(view.status, str(view.status)), "frame": view.frame,
        "players": [str(p) for p in view.players], "last_input_frame": list(view.last_input_frame),
        "last_active": view.last_active,
        "validator": str(view.validator),
        "crank_key": str(view.crank_key),
        "fighters": [dict(zip(FIELDS, f)) for f in view.fighters],
    }


def cmd_session(args) -> int:
    kp = load_keypair(args.keypair) if args.action != "show" else None
    be = open_backend(args, kp)
    try:
        return session_action(args, be, kp)
    finally:
        if not hasattr(be, "save_ledger"):
            be.close()


def session_action(args, be, kp) -> int:
    if args.action == "show":
        view = be.session(args.id)
        if view is None:
            print(f"session {args.id} does not exist", file=sys.stderr)
            return 1
        print(json.dumps(show(view), indent=None if args.json else 2))
        return 0
    if args.action == "create":
        from solders.pubkey import Pubkey
        key = lambda s: Pubkey.from_string(s) if s else None  # noqa: E731
        out = be.create_session(args.id, args.model_id, kp, validator=key(args.validator),
                                crank_key=key(args.crank_key), invite=key(args.invite))
    elif args.action == "join":
        out = be.join_session(args.id, kp)
    else:
        out = be.close_session(args.id, kp)
    save(be, args)
    if not out.ok:
        from onchain.sdk.errors import describe
        print(f"error: {args.action} failed: {describe(out.error)}", file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "signature": out.signature, "cu": out.cu}))
    return 0


def cmd_demo(args) -> int:
    from onchain.tools import demo
    result = demo.run(args.frames, args.model, args.seed, args.so)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0 if result["rent_refunded"] else 1


def cmd_fuzz(args) -> int:
    from onchain.tools import fuzz
    result = fuzz.run(args.cases, args.seed, args.so, progress=not args.json)
    if args.json:
        keep = ("cases", "unexpected_success", "panics", "state_changed_on_failure", "program_instructions_missed",
                "substitutions")
        print(json.dumps({k: result[k] for k in keep}))
    else:
        print(json.dumps(result, indent=2))
    bad = result["unexpected_success"] + result["panics"] + result["state_changed_on_failure"]
    return 1 if bad else 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m onchain", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="RPC endpoint of a validator or the base node (the remote backend); without "
                                  "it (and without --profile) the embedded backend is used")
    ap.add_argument("--ephemeral", action="store_true",
                    help="--url is a MagicBlock ER: `session close` ends the session there (commit + undelegate)")
    ap.add_argument("--profile", help="chain profile from settings.yaml (embedded, local-er, devnet): upload and "
                                      "session create/join/close go to its base_url, session show to its url")
    ap.add_argument("--ledger", default=str(DEFAULT_LEDGER), help="embedded backend state file (default: %(default)s)")
    ap.add_argument("--keypair", help="signer keypair JSON (default ~/.config/solana/id.json, else build/cli-keypair.json)")
    ap.add_argument("--so", default=str(DEFAULT_SO), help="compiled program (default: %(default)s)")
    sub = ap.add_subparsers(dest="command", required=True)

    up = sub.add_parser("upload", help="upload a cartridge (chunked, resumable) and finalize it")
    up.add_argument("--model", required=True, help="model directory with manifest.bin and weights.bin")
    up.add_argument("--model-id", type=int, default=1)
    up.add_argument("--url", dest="upload_url", help="same as the top-level --url")
    up.add_argument("--quiet", action="store_true", help="no progress bar")
    up.set_defaults(func=cmd_upload)

    ses = sub.add_parser("session", help="create | join | show | close a session")
    ses.add_argument("action", choices=["create", "join", "show", "close"])
    ses.add_argument("--id", type=int, required=True, help="session id")
    ses.add_argument("--model-id", type=int, default=1, help="model of a new session (create)")
    ses.add_argument("--json", action="store_true", help="one-line JSON (show)")
    ses.add_argument("--validator", help="create: the ER identity the session may be delegated to (default: none)")
    ses.add_argument("--crank-key", help="create: a key that may crank besides the players (default: the fee payer)")
    ses.add_argument("--invite", help="create: the only key that may join as player 2 (default: anyone)")
    ses.set_defaults(func=cmd_session)

    demo = sub.add_parser("demo-session", help="whole lifecycle on the embedded backend, scripted inputs")
    demo.add_argument("--frames", type=int, default=600)
    demo.add_argument("--model", help="model directory (default: a random micro cartridge, fixed seed)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(func=cmd_demo)

    fz = sub.add_parser("fuzz", help="random and mutated instructions against the real program")
    fz.add_argument("--cases", type=int, default=1000)
    fz.add_argument("--seed", type=int, default=1)
    fz.add_argument("--json", action="store_true")
    fz.set_defaults(func=cmd_fuzz)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
