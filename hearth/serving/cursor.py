"""The "For you" feed's opaque cursor: which posts the viewer has been served in this session,
when the ranking was made and which page comes next.

Each page is ranked again at the first page's time (`ranked_at`), minus what was served, so
pages never repeat a post and freshness does not shift between pages. The cursor is
base64url(zlib(JSON)) with a checksum bound to the viewer: a cursor that was edited, cut
short or taken from another account is refused with a clear 422, not silently misread.
It is not a secret (it names only the viewer's own served post ids).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from dataclasses import dataclass, field

from hearth.serving.errors import InvalidRequest

MAX_SERVED = 400  # older served ids fall out of the cursor; recorded impressions still hide them
MAX_CURSOR_CHARS = 8000
_SALT = b"hearth-feed-cursor-v1"


@dataclass
class FeedCursor:
    ranked_at: float  # unix seconds the feed is ranked at (the first page's time)
    page: int = 1  # the page this cursor asks for (0-based: the first page has no cursor)
    served: list[int] = field(default_factory=list)  # post ids already served, oldest first


def _checksum(viewer_id: int, body: bytes) -> str:
    return hashlib.sha256(_SALT + str(viewer_id).encode() + b":" + body).hexdigest()[:16]


def encode_cursor(viewer_id: int, cursor: FeedCursor) -> str:
    served = cursor.served[-MAX_SERVED:]
    body = json.dumps({"t": round(cursor.ranked_at, 3), "p": cursor.page, "s": served},
                      separators=(",", ":")).encode()
    packed = json.dumps({"b": body.decode(), "c": _checksum(viewer_id, body)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(packed, 9)).decode().rstrip("=")


def decode_cursor(viewer_id: int, text: str) -> FeedCursor:
    """The cursor's content, or InvalidRequest saying why it cannot be used."""
    bad = InvalidRequest("cursor is not valid: pass back the next_cursor of the previous page unchanged, "
                  "or leave it out to start again")
    if not isinstance(text, str) or not text or len(text) > MAX_CURSOR_CHARS:
        raise bad
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), bufsize=MAX_CURSOR_CHARS * 4)
        packed = json.loads(raw)
        body = packed["b"].encode()
        if packed["c"] != _checksum(viewer_id, body):
            raise bad
        data = json.loads(body)
        ranked_at, page, served = float(data["t"]), int(data["p"]), data["s"]
    except (binascii.Error, zlib.error, ValueError, KeyError, TypeError, AttributeError, UnicodeError):
        raise bad from None
    if not isinstance(served, list) or not all(isinstance(i, int) for i in served) or page < 1:
        raise bad
    return FeedCursor(ranked_at=ranked_at, page=page, served=served)
