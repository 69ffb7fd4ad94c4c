"""Join codes: how a guest or a spectator finds a host's session (Slippi's connect code, for a
chain that runs on the host's machine).

    SESSION@HOST[:ER_PORT[:BASE_PORT]]       e.g. 48213@192.168.1.20   48213@127.0.0.1:32004:32000

SESSION is the session id, HOST the host's address as other machines reach it; the ports default to
the local stack's (python -m onchain.localnet: ER 7799, base chain 8899) and appear only when the
host uses others. The ER's WebSocket is its port + 1, as everywhere in this project.
"""
from __future__ import annotations

import dataclasses
import re

ER_PORT, BASE_PORT = 7799, 8899
MAX_SESSION = 2**63 - 1
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
FORMAT = "SESSION@HOST[:ER_PORT[:BASE_PORT]], e.g. 48213@192.168.1.20"


class JoinCodeError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class JoinCode:
    session_id: int
    host: str
    er_port: int = ER_PORT
    base_port: int = BASE_PORT

    @property
    def er_url(self) -> str:
        return f"http://{self.host}:{self.er_port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.base_port}"

    def __str__(self) -> str:
        ports = ""
        if (self.er_port, self.base_port) != (ER_PORT, BASE_PORT):
            ports = f":{self.er_port}" + (f":{self.base_port}" if self.base_port != BASE_PORT else "")
        return f"{self.session_id}@{self.host}{ports}"


def parse(text: str) -> JoinCode:
    """A JoinCode from what the player typed; JoinCodeError saying what is wrong otherwise."""
    code = (text or "").strip()
    def bad(why: str) -> JoinCodeError:
        return JoinCodeError(f"bad join code {text!r}: {why} (expected {FORMAT})")
    if code.count("@") != 1:
        raise bad("no '@' between the session and the host")
    sid_text, where = code.split("@")
    if not sid_text.isdigit():
        raise bad("the session (before '@') must be a number")
    sid = int(sid_text)
    if not 0 <= sid <= MAX_SESSION:
        raise bad("session id out of range")
    parts = where.split(":")
    if len(parts) > 3 or "::" in where or "[" in where:
        raise bad("too many ':' (IPv6 addresses are not supported: use a host name or an IPv4 address)")
    host = parts[0]
    if not _HOST.match(host):
        raise bad(f"{host!r} is not a host name or IPv4 address")
    ports = []
    for p in parts[1:]:
        if not p.isdigit() or not 1 <= int(p) <= 65535:
            raise bad(f"port {p!r} is not a number from 1 to 65535")
        ports.append(int(p))
    er_port = ports[0] if ports else ER_PORT
    base_port = ports[1] if len(ports) > 1 else BASE_PORT
    return JoinCode(sid, host, er_port, base_port)
