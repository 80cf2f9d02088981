"""XML-RPC at ``/rpc`` over the same ``Dispatcher`` as JSON-RPC.

Why: Sonarr, Radarr and FlexGet talk to aria2 in XML-RPC. The method table is shared;
this module only translates the envelope, matching aria2c 1.37 as measured:

- a call that fails is HTTP 200 with a ``<fault>`` whose ``faultCode`` is the int 1
  and ``faultString`` aria2's message (``Unauthorized``, ``GID ... is not found``);
- a body that is not an XML-RPC call is HTTP 400 with an empty body;
- ``system.multicall`` answers ``[result]`` per success and a
  ``{faultCode, faultString}`` struct per failure, XML-RPC's convention (the method
  table returns JSON-RPC's ``{code, message}``; it is renamed here);
- ``base64`` values (``addTorrent``'s torrent) reach the table as base64 text, the
  form JSON-RPC carries them in.

The parser is the standard library's (expat: no external entities, and entity
expansion is bounded); bodies are size-limited before they get here.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import xmlrpc.client

from lixian.rpc.aria2 import Dispatcher
from lixian.rpc.errors import RpcError

__all__ = ["handle_xmlrpc"]

log = logging.getLogger(__name__)

_INT_MAX = (1 << 31) - 1  # XML-RPC's <int> is 32-bit; larger numbers travel as text


async def handle_xmlrpc(dispatcher: Dispatcher, body: bytes) -> tuple[int, bytes]:
    """One XML-RPC request body -> (HTTP status, response body)."""
    try:
        params, method = xmlrpc.client.loads(body, use_builtin_types=True)
    except Exception:  # expat errors, unknown value types, truncated documents
        return 400, b""
    if not method:
        return 400, b""
    try:
        result = await dispatcher.call(method, [_incoming(p) for p in params])
    except RpcError as exc:
        if exc.message == "Unauthorized":
            await asyncio.sleep(dispatcher.unauthorized_delay())
        return 200, _fault(exc.code, exc.message)
    except Exception:  # a bug must answer, not hang or kill the connection
        log.exception("XML-RPC %s failed", method)
        return 200, _fault(1, "internal error")
    if method == "system.multicall" and isinstance(result, list):
        result = [_multicall_item(item) for item in result]
    return 200, _dumps(_outgoing(result))


def _fault(code: int, message: str) -> bytes:
    text = xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True)
    return text.encode("utf-8")


def _dumps(result: object) -> bytes:
    try:
        text = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)  # type: ignore[arg-type]
    except (TypeError, OverflowError) as exc:
        log.error("cannot encode an XML-RPC result: %s", exc)
        return _fault(1, "internal error")
    return text.encode("utf-8")


def _multicall_item(item: object) -> object:
    """JSON-RPC's ``{code, message}`` failure -> XML-RPC's ``{faultCode, faultString}``."""
    if isinstance(item, dict) and set(item) == {"code", "message"}:
        return {"faultCode": item["code"], "faultString": item["message"]}
    return item


def _incoming(value: object) -> object:
    """XML-RPC's extra types -> what JSON-RPC would have carried."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_incoming(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _incoming(v) for k, v in value.items()}
    return value


def _outgoing(value: object) -> object:
    """Make a result encodable: ints beyond 32 bits as text (aria2 sends numbers as text)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not -_INT_MAX - 1 <= value <= _INT_MAX:
        return str(value)
    if isinstance(value, list | tuple):
        return [_outgoing(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _outgoing(v) for k, v in value.items()}
    return value
