"""`hearth llm check`: talk to every configured runtime the way the assistant will (list models, stream a
reply, one tool-call round trip) and print what works, what does not, and how to fix it.

Tool calling is checked end to end because it is what breaks most often with open-weights servers: a
llama.cpp server started without `--jinja`, an Ollama model without tool support, a vLLM without a parser.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hearth.llm.registry import ROLES, Runtimes
from hearth.llm.types import (
    HOW_TO_CONNECT,
    ChatMessage,
    ChatRuntime,
    Completion,
    LLMError,
    LLMUnavailable,
    TextDelta,
    ToolCall,
    ToolSpec,
)

if TYPE_CHECKING:
    from hearth.settings import Settings

ADD = ToolSpec("add", "Add two integers and return their sum.",
               {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"]})
GET_TIME = ToolSpec("get_time", "The current date and time (UTC).", {"type": "object", "properties": {}})
TOOL_FIX = ("the server must support tool calls: start llama.cpp as `llama-server --jinja`; with Ollama use a "
            "model with tool support (llama3.1/3.2, qwen2.5, mistral-nemo); with vLLM pass "
            "`--enable-auto-tool-choice --tool-call-parser <parser>`; or try a larger model")
MAX_TOOL_ROUNDS = 3
STATUS_MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warning[/]", "fail": "[red]FAILED[/]"}


@dataclass
class Step:
    check: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


@dataclass
class RuntimeReport:
    name: str
    description: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status != "fail" for s in self.steps)


def model_listed(model: str, models: list[str]) -> bool:
    """Ollama lists `llama3.2:latest` for `llama3.2`."""
    return model in models or f"{model}:latest" in models


def _short(error: Exception) -> str:
    """The error without the long how-to-connect paragraph (printed once, below the table)."""
    return str(error).replace(HOW_TO_CONNECT, "").strip().rstrip(";").strip()


async def _models_step(runtime: ChatRuntime, wanted: list[str]) -> Step:
    models = await runtime.list_models()
    shown = ", ".join(models[:8]) + (", ..." if len(models) > 8 else "")
    if not wanted:
        return Step("models", "warn", f"reachable; no model set, so the server picks one; it has: {shown or 'none'}",
                    "set HEARTH_LLM_MODEL to one of the models listed")
    missing = [m for m in wanted if not model_listed(m, models)]
    if missing:
        return Step("models", "warn", f"reachable; {', '.join(missing)} not among its models ({shown or 'none'})",
                    f"`ollama pull {missing[0]}`, or set HEARTH_LLM_MODEL to a listed model (servers that run "
                    "one model, like llama-server, may ignore the name)")
    return Step("models", "ok", f"reachable; {', '.join(wanted)} listed ({len(models)} models)")


async def _reply_step(runtime: ChatRuntime) -> Step:
    messages = [ChatMessage("system", "You are being tested. Answer in one short sentence."),
                ChatMessage("user", "Say hello.")]
    start = time.perf_counter()
    first: float | None = None
    pieces = 0
    completion: Completion | None = None
    async for event in runtime.stream_chat(messages, max_tokens=128, temperature=0.0):
        if isinstance(event, TextDelta):
            first = first if first is not None else time.perf_counter() - start
            pieces += 1
        elif isinstance(event, Completion):
            completion = event
    took = time.perf_counter() - start
    if completion is None or not completion.content.strip():
        return Step("streamed reply", "fail", "the model answered with no text",
                    "try another model; a reasoning model may need a larger max_tokens")
    tokens = completion.usage.completion_tokens if completion.usage and completion.usage.completion_tokens else pieces
    speed = f" ({tokens / took:.1f} tokens/s)" if took > 0 else ""
    detail = (f"first token after {first or took:.2f} s, {tokens} tokens in {took:.2f} s{speed}: "
              f"{completion.content.strip()[:60]!r}")
    return Step("streamed reply", "ok", detail)


def _run_tool(call: ToolCall) -> str:
    if call.name == "add":
        try:
            return str(int(call.arguments["a"]) + int(call.arguments["b"]))
        except (KeyError, TypeError, ValueError):
            return "error: add needs integers a and b"
    if call.name == "get_time":
        return datetime.now(UTC).isoformat(timespec="seconds")
    return f"error: there is no tool {call.name!r}"


async def _tool_step(runtime: ChatRuntime) -> Step:
    messages = [ChatMessage("system", "You are being tested. Use the tools to answer."),
                ChatMessage("user", "What is 2 + 3? Use the add tool, then tell me the result.")]
    added = False
    for _ in range(MAX_TOOL_ROUNDS):
        completion = None
        async for event in runtime.stream_chat(messages, [GET_TIME, ADD], max_tokens=256, temperature=0.0):
            if isinstance(event, Completion):
                completion = event
        if completion is None:
            return Step("tool call", "fail", "the runtime ended without a completion", "a bug in the runtime")
        if completion.rejected_calls:
            bad = completion.rejected_calls[0]
            return Step("tool call", "fail", f"the model wrote an unusable call to {bad.name or '?'}: {bad.why}",
                        "use a model tuned for tool calls, or a larger one")
        if not completion.tool_calls:
            if not added:
                return Step("tool call", "fail", f"no tool call; the model answered {completion.content[:60]!r}",
                            TOOL_FIX)
            if "5" not in completion.content:
                return Step("tool call", "warn", f"called add, but the final answer does not say 5: "
                                                 f"{completion.content[:60]!r}", "try a larger model")
            return Step("tool call", "ok", f"add(2, 3) called, result sent back, final answer "
                                           f"{completion.content.strip()[:60]!r}")
        added = added or any(c.name == "add" and _run_tool(c) == "5" for c in completion.tool_calls)
        messages.append(ChatMessage("assistant", completion.content or None, tool_calls=completion.tool_calls))
        messages += [ChatMessage("tool", _run_tool(c), tool_call_id=c.id) for c in completion.tool_calls]
    return Step("tool call", "fail", f"still calling tools after {MAX_TOOL_ROUNDS} rounds, no final answer",
                "try a larger model")


async def check_runtime(runtime: ChatRuntime, wanted_models: list[str]) -> list[Step]:
    """The checks, in order; an unreachable server stops them (the rest would fail the same way)."""
    steps: list[Step] = []
    checks = (("models", lambda: _models_step(runtime, wanted_models)),
              ("streamed reply", lambda: _reply_step(runtime)),
              ("tool call", lambda: _tool_step(runtime)))
    for name, check in checks:
        try:
            steps.append(await check())
        except LLMUnavailable as e:
            steps.append(Step("reach the server", "fail", _short(e),
                              "start the model server, or fix its URL (HEARTH_LLM_BASE_URL, or the runtime's "
                              "base_url in HEARTH_LLM_RUNTIMES); see below"))
            break
        except LLMError as e:
            if name == "models":  # some servers have no /models; the chat checks still tell
                steps.append(Step(name, "warn", f"cannot list models: {_short(e)}"))
            else:
                steps.append(Step(name, "fail", _short(e), "see the error; the server's log says more"))
        except Exception as e:  # a diagnostic reports whatever goes wrong, and goes on to the next runtime
            steps.append(Step(name, "fail", f"{type(e).__name__}: {e}", "unexpected: please report it"))
            break
    return steps


def _roles_report(runtimes: Runtimes) -> RuntimeReport | None:
    """A failing report when a role names a runtime that is not configured (the assistant would fail)."""
    steps = []
    for role in ROLES:
        try:
            runtimes.role_target(role)
        except LLMUnavailable as e:
            steps.append(Step(role, "fail", _short(e), f"set HEARTH_LLM_{role.upper()}_RUNTIME to a configured "
                                                       "runtime"))
    return RuntimeReport("(roles)", "which runtime each job uses", steps) if steps else None


def _wanted_models(runtimes: Runtimes, name: str) -> list[str]:
    """The models asked of runtime `name`: its own, and those of the roles it serves."""
    wanted = [runtimes.config(name).effective_model]
    for role in ROLES:
        try:
            runtime_name, model = runtimes.role_target(role)
        except LLMUnavailable:
            continue
        if runtime_name == name:
            wanted.append(model)
    return [m for i, m in enumerate(wanted) if m and m not in wanted[:i]]


async def check_all(runtimes: Runtimes, names: list[str], roles: bool = True) -> list[RuntimeReport]:
    """One report per runtime in `names`, plus one for misconfigured roles when `roles`."""
    reports = []
    rows = {row["name"]: row for row in runtimes.describe()}
    try:
        for name in names:
            row = rows[name]
            serves = f", roles: {', '.join(row['roles'])}" if row["roles"] else ""
            report = RuntimeReport(name, f"{row['kind']} {row.get('url') or row.get('path')}, model "
                                         f"{row['model'] or '(server default)'}{serves}")
            reports.append(report)
            try:
                runtime = runtimes.get(name)
            except (LLMError, ImportError, OSError, ValueError) as e:
                report.steps.append(Step("start the runtime", "fail", _short(e),
                                         "pip install 'hearth[llm-local]' for GGUF files; check the settings"))
                continue
            report.steps += await check_runtime(runtime, _wanted_models(runtimes, name))
    finally:
        await runtimes.aclose()
    problems = _roles_report(runtimes) if roles else None
    return reports + ([problems] if problems else [])


def print_reports(reports: list[RuntimeReport], console: Console) -> None:
    table = Table(title="language model runtimes")
    for column in ("runtime", "check", "result", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for report in reports:
        for i, step in enumerate(report.steps):
            table.add_row(escape(report.name) if i == 0 else "", step.check, STATUS_MARK[step.status],
                          escape(step.detail), escape(step.fix))
    for report in reports:
        console.print(f"[bold]{escape(report.name)}[/]: {escape(report.description)}", soft_wrap=True)
    console.print(table)


def run_check(settings: Settings, runtime_name: str | None, console: Console) -> int:
    """Exit code: 0 all configured runtimes work, 1 some do not, 2 none is configured (or bad settings)."""
    try:
        runtimes = Runtimes.from_settings(settings)
    except ValueError as e:
        console.print(f"[red]error:[/] the LLM settings cannot work: {escape(str(e))}", soft_wrap=True)
        return 2
    if not runtimes.configured:
        console.print(escape(f"No language model is configured; {HOW_TO_CONNECT}"), soft_wrap=True)
        return 2
    if runtime_name is not None and runtime_name not in runtimes.names():
        console.print(f"[red]error:[/] no runtime named {escape(repr(runtime_name))}; configured: "
                      f"{escape(', '.join(runtimes.names()))}", soft_wrap=True)
        return 2
    names = [runtime_name] if runtime_name else runtimes.names()
    reports = asyncio.run(check_all(runtimes, names, roles=runtime_name is None))
    print_reports(reports, console)
    if any(s.check == "reach the server" for r in reports for s in r.steps):
        console.print(escape(HOW_TO_CONNECT[0].upper() + HOW_TO_CONNECT[1:]), soft_wrap=True)
    failed = [r.name for r in reports if not r.ok]
    console.print(f"[red]not working:[/] {escape(', '.join(failed))}" if failed else "[green]all runtimes work[/]")
    return 1 if failed else 0

