"""Limits every request meets before any route reads it: body size, JSON nesting, UTF-8, query length.

A pure ASGI middleware, outermost, so no route, form parser or JSON decoder ever sees a body
that is too big (413, before it is read when Content-Length says so), JSON nested deeper than
any client needs (a recursion bomb, 400), JSON that is not UTF-8 (400), or a query string
longer than any real client sends (414). Everything else passes through untouched.
"""

from __future__ import annotations

import json
import re

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
OPEN, CLOSE = b"[{", b"]}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in OPEN + CLOSE)


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays and objects in a JSON text (strings skipped), without parsing it."""
    brackets = JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    arr = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((arr == OPEN[0]) | (arr == OPEN[1]), 1, -1)
    return int(np.cumsum(steps).max())


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_form_bytes: int, max_json_depth: int,
                 max_query_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes  # multipart uploads (audio, avatars, notes)
        self.max_form_bytes = max_form_bytes  # JSON, form-encoded and every other body
        self.max_json_depth = max_json_depth
        self.max_query_bytes = max_query_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.max_query_bytes:
            await _reject(send, 414, f"the query string is longer than {self.max_query_bytes} bytes")
            return
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        limit = self.max_body_bytes if ctype == b"multipart/form-data" else self.max_form_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reject(send, 413, f"the request body is larger than {limit:,} bytes")
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and declared in (None, b"0"):
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:  # read it all here (at most `limit` bytes), then hand the route an identical stream
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reject(send, 413, f"the request body is larger than {limit:,} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if ctype == b"application/json" or ctype.endswith(b"+json") or (not ctype and body.lstrip()[:1] in b"{["):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                await _reject(send, 400, "the request body is not UTF-8")
                return
            if json_depth(body) > self.max_json_depth:
                await _reject(send, 400, f"the JSON body is nested deeper than {self.max_json_depth} levels")
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would say

        await self.app(scope, replay, send)


async def _reject(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})
