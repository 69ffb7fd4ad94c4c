"""The HTTP proxy the local ER's own clients go through: it forwards every JSON-RPC request except
`getBlock`, which it answers at once with "slot skipped".

Why: MagicBlock's ephemeral validator 0.8.3 always runs its terminal UI, and the UI lists
transactions by polling the ER's own `getBlock` with JSON encoding, which base58-encodes every
instruction's data, a cost quadratic in its size. The ER clones a large account (a model's
weights: 690 KB for `micro`) with 64 KB `CloneAccountContinue` transactions, and one such block
took 15.8 s and 48.5 s of CPU to encode (0.01 s as base64). On 2 cores the ER has a single RPC
worker thread, so every other request waited behind it, and the UI's 5 s timeout made it ask again
and again: slots stalled and sessions hung for minutes, above all right after an ER restart.

The UI's HTTP client honours the standard proxy variables, so `onchain.localnet` starts the ER with
`http_proxy` pointing here. The validator's task scheduler sends its transactions to the same
address as the UI (the ER's own RPC), so requests are forwarded, not refused; the ER reaches the
base chain by the name `localhost`, which `NO_PROXY` exempts. The UI's Transactions tab stays empty
("slot skipped" is an answer it skips past); its slots and logs still come over WebSocket.

    python -m onchain.localnet.er_proxy --port 7802
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal

from aiohttp import ClientError, ClientSession, ClientTimeout, web

log = logging.getLogger("er_proxy")

SLOT_SKIPPED = -32007  # JSON_RPC_SERVER_ERROR_SLOT_SKIPPED: the UI moves on to the next slot


def skipped_block(req: dict) -> dict:
    slot = (req.get("params") or [None])[0]
    return {"jsonrpc": "2.0", "id": req.get("id"),
            "error": {"code": SLOT_SKIPPED, "message": f"Slot {slot} was skipped, or missing due to ledger jump to "
                      "recent snapshot (getBlock is not served through onchain.localnet.er_proxy)"}}


class Proxy:
    def __init__(self):
        self.session: ClientSession | None = None
        self.forwarded = 0
        self.skipped = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.raw_path  # a proxy request names the whole URL ("absolute form")
        if not target.startswith("http://"):
            return web.Response(text="ok")  # a request to the proxy itself: the readiness check
        body = await request.read()
        if request.method == "POST":
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and doc.get("method") == "getBlock":
                self.skipped += 1
                return web.json_response(skipped_block(doc))
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "proxy-connection", "connection", "keep-alive", "content-length",
                                        "transfer-encoding", "accept-encoding")}  # answers come back plain
        try:
            async with self.session.request(request.method, target, data=body, headers=headers) as resp:
                payload = await resp.read()
                self.forwarded += 1
                return web.Response(body=payload, status=resp.status,
                                    content_type=resp.content_type if resp.content_type else None)
        except (ClientError, asyncio.TimeoutError) as e:
            return web.Response(status=502, text=f"er_proxy: {target}: {e!r}")

    async def serve(self, host: str, port: int):
        self.session = ClientSession(timeout=ClientTimeout(total=120))
        # The low-level server: every request reaches handle(), whatever its target (no routing).
        runner = web.ServerRunner(web.Server(self.handle), shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("ER proxy ready on http://%s:%d", host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        await runner.cleanup()
        await self.session.close()
        log.info("forwarded %d requests, answered %d getBlock", self.forwarded, self.skipped)


def main(argv: list[str] | None = None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(Proxy().serve(args.host, args.port))


if __name__ == "__main__":
    main()
