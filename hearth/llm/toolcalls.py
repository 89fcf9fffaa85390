"""Turning streamed `delta.tool_calls` fragments into whole tool calls, whatever server sent them.

Servers disagree on the OpenAI chunk format: llama.cpp sends the id and name first and the arguments in
pieces; Ollama sends each call whole; some omit `index` or give every parallel call index 0; some re-send the
complete arguments at the end; models write broken JSON. Every call leaves here either as a `ToolCall` whose
arguments are a JSON object, or as a `RejectedCall` that must never reach stored history.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from json_repair import repair_json

from hearth.llm.types import RejectedCall, ToolCall


def new_call_id() -> str:
    """An id for a call the server sent without one (the answer to it must name some id)."""
    return f"call_{uuid.uuid4().hex[:24]}"


_INCOMPLETE = object()
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


def _complete_json(text: str) -> Any:
    """The parsed value when `text` is already complete JSON, else the `_INCOMPLETE` marker."""
    try:
        return json.loads(text)
    except ValueError:
        return _INCOMPLETE


@dataclass
class _Partial:
    id: str | None
    index: int | None
    name: str = ""
    parts: list[str] = field(default_factory=list)

    @property
    def raw(self) -> str:
        return "".join(self.parts)

    def add_arguments(self, piece: Any) -> None:
        if isinstance(piece, dict | list):  # a server that sends objects instead of a JSON string
            self.parts = [json.dumps(piece, ensure_ascii=False)]
            return
        if not isinstance(piece, str) or not piece:
            return
        so_far = self.raw
        if so_far.strip():
            whole = _complete_json(so_far)
            # The complete arguments re-sent after the pieces that already made them up: drop the copy.
            if whole is not _INCOMPLETE and _complete_json(piece) == whole:
                return
        self.parts.append(piece)


def _another_call(call: _Partial, name: str, arguments: Any) -> bool:
    """A named delta without id or new index: another call if the name differs, or if `call` is complete
    and the delta does not merely repeat its arguments."""
    if name != call.name:
        return True
    whole = _complete_json(call.raw)
    if whole is _INCOMPLETE:
        return False
    return not (isinstance(arguments, str) and _complete_json(arguments) == whole)


class ToolCallAssembler:
    """Feed it every chunk's `delta["tool_calls"]`, then `finish()` for the calls and the rejected ones."""

    def __init__(self) -> None:
        self._calls: list[_Partial] = []
        self._by_index: dict[int, _Partial] = {}

    @property
    def has_calls(self) -> bool:
        return bool(self._calls)

    def feed(self, tool_calls: list[dict[str, Any]] | None) -> None:
        """One delta's `tool_calls` list (None and [] are ignored)."""
        for delta in tool_calls or []:
            if not isinstance(delta, dict):
                continue
            function = delta.get("function") or {}
            name = function.get("name") or ""
            arguments = function.get("arguments")
            call = self._target(delta.get("id") or None, delta.get("index"), name, arguments)
            if name and not call.name:
                call.name = name
            call.add_arguments(arguments)

    def _target(self, call_id: str | None, index: Any, name: str, arguments: Any) -> _Partial:
        """The call a delta continues, or a new one (new id, new index, or evidently another call)."""
        index = index if isinstance(index, int) else None
        if call_id is not None:
            for call in self._calls:
                if call.id == call_id:  # some servers repeat the id on every delta
                    return call
            return self._start(call_id, index)
        call = self._by_index.get(index) if index is not None else (self._calls[-1] if self._calls else None)
        if call is None:
            return self._start(None, index)
        if name and call.name and _another_call(call, name, arguments):
            return self._start(None, index)
        return call

    def _start(self, call_id: str | None, index: int | None) -> _Partial:
        call = _Partial(call_id, index)
        self._calls.append(call)
        if index is not None:
            self._by_index[index] = call
        return call

    def finish(self, truncated: bool = False) -> tuple[list[ToolCall], list[RejectedCall]]:
        """Every call parsed: arguments a JSON object (repaired if need be), else rejected with why.

        `truncated`: the answer was cut off (finish_reason "length"), so arguments that are not complete JSON
        were cut, not mistyped; repairing them would invent a shorter value, so they are rejected instead."""
        calls: list[ToolCall] = []
        rejected: list[RejectedCall] = []
        for partial in self._calls:
            call_id = partial.id or new_call_id()
            raw = partial.raw
            if not partial.name:
                rejected.append(RejectedCall(call_id, "", raw, "the tool call has no function name"))
                continue
            arguments, why = parse_arguments(raw, repair=not truncated)
            if arguments is None:
                rejected.append(RejectedCall(call_id, partial.name, raw, why))
            else:
                calls.append(ToolCall(call_id, partial.name, arguments))
        return calls, rejected


def parse_arguments(raw: str, repair: bool = True) -> tuple[dict[str, Any] | None, str]:
    """`(object, "")`, or `(None, why)`. Empty arguments are `{}` (tools without parameters send none)."""
    if not raw.strip():
        return {}, ""
    value = _complete_json(raw)
    if value is _INCOMPLETE and not repair:
        return None, f"the arguments were cut off by the answer's token limit: {raw[:200]!r}"
    if value is _INCOMPLETE:
        value = repair_json(raw, return_objects=True)
        if not isinstance(value, dict):
            return None, f"the arguments are not valid JSON and could not be repaired: {raw[:200]!r}"
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), type(value).__name__)
        return None, f"the arguments must be a JSON object, not {kind}: {raw[:200]!r}"
    return value, ""
