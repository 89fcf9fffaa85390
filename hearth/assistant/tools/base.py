"""What a tool is: a name, a description and a Pydantic model of its arguments (the JSON schema
the model sees, and the validation its calls go through); whether it reads or writes; and the
function that runs it as the person, through the services, in a database session of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth.llm.types import ToolSpec
from hearth.settings import Settings
from hearth.storage.models import Account


@dataclass
class ToolContext:
    """Everything a tool may use. `viewer_id` is the asking person: every service call is theirs."""

    sessionmaker: async_sessionmaker[AsyncSession]
    viewer_id: int
    settings: Settings
    serving: Any = None  # the app's ServingState (feed and people you may know)
    summarise: Callable[[str, str], Awaitable[str]] | None = None  # (instruction, text) -> summary, small model
    conversation_id: int | None = None


@dataclass
class ToolResult:
    """`data` goes to the model as quoted data; `card` is what the person sees of the call;
    `sources` names the untrusted texts read (post and account ids) for later proposals' provenance."""

    data: Any
    card: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True


@dataclass
class Proposal:
    """What a write tool would do: the exact arguments, and a sentence the person approves."""

    summary: str
    arguments: dict[str, Any]
    card: dict[str, Any] = field(default_factory=dict)


@dataclass
class Tool:
    name: str
    description: str
    args: type[BaseModel]
    kind: Literal["read", "write"]
    run: Callable[[ToolContext, AsyncSession, Account, Any], Awaitable[ToolResult]] | None = None  # reads
    propose: Callable[[ToolContext, AsyncSession, Account, Any], Awaitable[Proposal]] | None = None  # writes
    apply: Callable[[ToolContext, AsyncSession, Account, Any], Awaitable[ToolResult]] | None = None  # approved
    # A write that may run without asking while the turn has read nothing from the app (memory:
    # "remember that I like jazz"); after the model has read other people's text it asks first.
    direct_when_untainted: bool = False
    _spec: ToolSpec | None = field(default=None, init=False, repr=False, compare=False)

    def spec(self) -> ToolSpec:
        """The schema the model sees (built once per tool: every turn offers it)."""
        if self._spec is None:
            self._spec = self._build_spec()
        return self._spec

    def _build_spec(self) -> ToolSpec:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return ToolSpec(self.name, self.description, schema)

    def parse(self, arguments: dict[str, Any]) -> Any:
        """Validated arguments, or ValueError with a message the model (and person) can act on."""
        try:
            return self.args.model_validate(arguments)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}" for err in e.errors())
            raise ValueError(f"invalid arguments for {self.name}: {problems}") from None
