"""A request's parameters as Mastodon clients send them: query string, form-encoded body,
multipart body or JSON body, with arrays as `id[]=1&id[]=2` (or JSON lists). One reader, so
every route gets the same type checks and the same clear 422 errors."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import UploadFile

from hearth.services.errors import Invalid

TRUE = {"true", "1", "on", "yes", "t"}
FALSE = {"false", "0", "off", "no", "f"}


class Params:
    """Read-only view of all parameters; typed getters raise Invalid (422) on bad values."""

    def __init__(self, values: dict[str, list[Any]]):
        self.values = values

    def _raw(self, name: str) -> list[Any]:
        return self.values.get(name) or self.values.get(name + "[]") or []

    def has(self, name: str) -> bool:
        return bool(self._raw(name))

    def string(self, name: str, default: str | None = None, max_len: int | None = None) -> str | None:
        raw = self._raw(name)
        if not raw or raw[-1] is None:
            return default
        value = raw[-1]
        if isinstance(value, UploadFile):
            raise Invalid(f"parameter '{name}' must be text, not a file")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise Invalid(f"parameter '{name}' must be a string")
        value = str(value)
        if max_len is not None and len(value) > max_len:
            raise Invalid(f"parameter '{name}' is longer than {max_len} characters")
        return value

    def id(self, name: str) -> str | None:
        """An id: a string of digits or a JSON number; empty means absent."""
        value = self.string(name)
        return value or None

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self._raw(name)
        if not raw or raw[-1] is None or raw[-1] == "":
            return default
        value = raw[-1]
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        raise Invalid(f"parameter '{name}' must be a boolean (true or false), not {value!r}")

    def integer(self, name: str, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
        """An integer; values outside [minimum, maximum] are clamped, as Mastodon does with limits."""
        raw = self._raw(name)
        if not raw or raw[-1] in (None, ""):
            return default
        value = raw[-1]
        try:
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError
            n = int(value)
        except (TypeError, ValueError):
            raise Invalid(f"parameter '{name}' must be an integer, not {value!r}") from None
        if minimum is not None:
            n = max(n, minimum)
        if maximum is not None:
            n = min(n, maximum)
        return n

    def array(self, name: str) -> list[str]:
        """`name[]=a&name[]=b`, `name=a`, or a JSON list; every element must be a string or number."""
        out: list[str] = []
        for value in self._raw(name):
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, bool) or not isinstance(item, str | int):
                    raise Invalid(f"parameter '{name}' must be a list of strings")
                out.append(str(item))
        return out

    def file(self, name: str) -> UploadFile | None:
        raw = self._raw(name)
        return raw[-1] if raw and isinstance(raw[-1], UploadFile) else None


def _flatten_json(body: Any) -> dict[str, list[Any]]:
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    out: dict[str, list[Any]] = {}
    for key, value in body.items():
        if isinstance(value, dict):  # {"source": {"privacy": "public"}} -> source[privacy]
            for sub, v in value.items():
                out[f"{key}[{sub}]"] = [v]
        else:
            out[key] = [value]
    return out


async def _body(request: Request) -> dict[str, list[Any]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        out: dict[str, list[Any]] = {}
        for key, value in form.multi_items():
            out.setdefault(key, []).append(value)
        return out
    raw = await request.body()
    if not raw.strip():
        return {}
    if ctype == "application/json" or ctype.endswith("+json") or (not ctype and raw.lstrip()[:1] in (b"{", b"[")):
        try:
            return _flatten_json(json.loads(raw))
        except (ValueError, UnicodeDecodeError):
            raise Invalid("request body is not valid JSON") from None
    if not ctype or ctype == "text/plain":
        out = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            out.setdefault(key, []).append(value)
        return out
    raise Invalid(f"unsupported content type {ctype!r}; send JSON, form-encoded or multipart parameters")


async def read_params(request: Request) -> Params:
    """All parameters of the request (body values win over query values of the same name)."""
    cached = getattr(request.state, "mastodon_params", None)
    if cached is not None:
        return cached
    values: dict[str, list[Any]] = {}
    for key, value in request.query_params.multi_items():
        values.setdefault(key, []).append(value)
    if request.method not in ("GET", "HEAD"):
        for key, items in (await _body(request)).items():
            values[key] = items
    params = Params(values)
    request.state.mastodon_params = params
    return params
