"""Run one session through an Ephemeral Rollup from the command line (the host's and the guest's
steps of README "Playing over the network").

    python -m onchain.tools.er_session host  --session ID --keypair P1.json [--model auto|random|NAME|DIR] [--base URL] [--er URL]
    python -m onchain.tools.er_session join  --session ID --keypair P2.json [--base URL]
    python -m onchain.tools.er_session end   --session ID --keypair P.json  [--base URL] [--er URL]

host: (funds the key on a local base chain,) uploads the model if it is not there yet (the game's default
model, the first in assets/models/, unless --model says otherwise; `random` is a random micro cartridge,
seed 0, and only when asked for), creates the
session, waits for the guest to join, delegates it to the ER and initializes it there; then anyone
can crank it (`python -m onchain.tools.crank --url ER --session ID`).
join: takes the player 2 slot on the base chain (waiting for the host to create the session first).
end: ends the session in the ER (commit + undelegate), waits until the base chain has it back,
and closes it there (the rent goes back to the host).
Endpoints come from a chain profile in settings.yaml (`--profile`, default local-er); --base and
--er override it.
"""
from __future__ import annotations

import argparse
import sys
import time

from solders.keypair import Keypair

from onchain.sdk import pda
from onchain.backends import profiles
from onchain.sdk.wire import STATUS_ACTIVE
from onchain.sdk.keys import read_or_create
from onchain.backends.remote import RemoteBackend

FUND = 100 * 10**9


def load_keypair(path: str) -> Keypair:
    return read_or_create(path)[0]  # a fresh key is saved so that the same player can come back


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["host", "join", "end"])
    ap.add_argument("--session", type=int, required=True)
    ap.add_argument("--keypair", required=True, help="Solana CLI JSON key (created if missing)")
    ap.add_argument("--profile", default="local-er", choices=profiles.names(),
                    help="chain profile (settings.yaml backend.profiles; default local-er)")
    ap.add_argument("--base", help="base chain RPC (default: the profile's base_url)")
    ap.add_argument("--er", help="ER RPC (default: the profile's url)")
    ap.add_argument("--model", default="auto",
                    help="auto (default: the game's model, the first in assets/models/), random (a random micro "
                         "cartridge, seed 0), a name under assets/models/, or a model directory")
    ap.add_argument("--model-id", type=int,
                    help="the model's id on chain (default: from its manifest, as `python -m game --host` does)")
    ap.add_argument("--wait", type=float, default=600.0, help="host: seconds to wait for the guest; join: for the host's session")
    args = ap.parse_args(argv)
    profile = profiles.load(args.profile)
    args.base = args.base or profile["base_url"]
    args.er = args.er or profile["url"]
    me = load_keypair(args.keypair)
    if args.step == "host":
        from worldmodel.shipped import ModelError, resolve
        from onchain.sdk.upload import load_cartridge_bytes, model_id_of
        try:
            model = resolve(args.model)
        except ModelError as e:
            ap.error(str(e))
        if model.source == "random" and args.model != "random":
            ap.error("no model in assets/models/: pass --model DIR, or --model random for a random cartridge")
        source = model.cartridge if model.source == "random" else model.source
        if args.model_id is None:
            args.model_id = model_id_of(load_cartridge_bytes(source)[0])
    with RemoteBackend(args.base, payer=me) as base:
        base.ensure_funded(me.pubkey(), FUND)  # local chains; on devnet fund the key yourself
        if args.step == "join":
            end = time.monotonic() + args.wait  # the guest may be quicker than the host
            while base.session(args.session) is None and time.monotonic() < end:
                time.sleep(0.5)
            out = base.join_session(args.session, me)
            print("joined" if out.ok else f"join failed: {out.error}")
            return 0 if out.ok else 1
        with RemoteBackend(args.er, payer=me, ephemeral=True) as er:
            if args.step == "host":
                if base.manifest(args.model_id) is None:
                    print(f"uploading model {model.name} as model {args.model_id} ...", flush=True)
                    base.upload_model(source, args.model_id, me)
                # Fixed for the session's life: delegated only to this ER; the host's key cranks.
                out = base.create_session(args.session, args.model_id, me, validator=er.identity())
                if not out.ok:
                    print(f"create failed: {out.error}")
                    return 1
                print(f"session {args.session} created; waiting for player 2 to join ...", flush=True)
                end = time.monotonic() + args.wait
                while (v := base.session(args.session)) is not None and v.status != STATUS_ACTIVE:
                    if time.monotonic() > end:
                        print("nobody joined")
                        return 1
                    time.sleep(0.5)
                for step in (base.delegate_session(args.session, me), er.start_in_er(args.session)):
                    if not step.ok:
                        print(f"delegation failed: {step.error}")
                        return 1
                print(f"session {args.session} is live in the ER at {args.er}")
                return 0
            out = er.end_session(args.session, me)
            if not out.ok:
                print(f"end failed: {out.error}")
                return 1
            keys = pda.session_accounts(base.program_id, args.session)
            if not all(base.wait_owner(k, base.program_id, 30.0) for k in keys):
                print("the base chain has not got the session back yet; run `end` again later")
                return 1
            view = base.session(args.session)
            out = base.close_session(args.session, me)
            print(f"ended at frame {view.frame}; closed on the base: {'ok' if out.ok else out.error}")
            return 0 if out.ok else 1


if __name__ == "__main__":
    sys.exit(main())
