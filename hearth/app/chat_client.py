"""`hearth chat`: the assistant in a terminal. It is a client of the assistant API over HTTP
(the same agent, quotas and approvals as the web UI), so it works against any Hearth server.
Writes the assistant proposes are asked about after each reply: approve, reject or edit."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse
from rich.console import Console

API = "/api/hearth/v1/assistant"
HELP = ("/new  a new conversation · /list  your conversations · /open ID · /rename TITLE · /regen  answer again · "
        "/memory  what it remembers · /forget ID · /quit   (Ctrl-C stops a reply)")


class ChatError(Exception):
    pass


def token_file() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "hearth" / "chat-tokens.json"


def _error(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error") or r.text)
    except (ValueError, AttributeError):
        return r.text or f"HTTP {r.status_code}"


def log_in(server: str, username: str, password: str) -> str:
    """A token for `username` through the OAuth password grant (registering a client app first);
    kept in ~/.config/hearth/chat-tokens.json (mode 600) for next time."""
    with httpx.Client(base_url=server, timeout=30) as http:
        r = http.post("/api/v1/apps", json={"client_name": "hearth chat", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                                            "scopes": "read write"})
        if r.status_code != 200:
            raise ChatError(f"could not register the chat client: {_error(r)}")
        app = r.json()
        r = http.post("/oauth/token", data={"grant_type": "password", "username": username, "password": password,
                                            "client_id": app["client_id"], "client_secret": app["client_secret"],
                                            "scope": "read write"})
        if r.status_code != 200:
            raise ChatError(f"could not log in as {username}: {_error(r)}")
        token = r.json()["access_token"]
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[f"{server}|{username.lower()}"] = token
    path.write_text(json.dumps(saved))
    path.chmod(0o600)
    return token


def saved_token(server: str, username: str) -> str | None:
    path = token_file()
    if not path.exists():
        return None
    return json.loads(path.read_text()).get(f"{server}|{username.lower()}")


class ChatSession:
    def __init__(self, server: str, token: str, console: Console, ask: Callable[[str], str]):
        self.http = httpx.Client(base_url=server.rstrip("/"), headers={"Authorization": f"Bearer {token}"},
                                 timeout=httpx.Timeout(30, read=300))
        self.console = console
        self.ask = ask
        self.conversation: str | None = None

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def token_works(server: str, token: str) -> bool:
        r = httpx.get(server.rstrip("/") + API + "/status", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        return r.status_code != 401

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, API + path, **kw)
        if r.status_code >= 400:
            raise ChatError(_error(r))
        return r.json() if r.content else None

    def status(self) -> dict:
        return self.call("GET", "/status")

    def new(self) -> str:
        self.conversation = self.call("POST", "/conversations", json={})["id"]
        return self.conversation

    # ---- one reply ---------------------------------------------------------------------------
    def send(self, text: str | None, regenerate: bool = False) -> list[dict]:
        """Stream one reply to the terminal; returns the proposals it made."""
        if self.conversation is None:
            self.new()
        path = f"/conversations/{self.conversation}/" + ("regenerate" if regenerate else "messages")
        body: dict[str, Any] = {"stream": True} if regenerate else {"content": text, "stream": True}
        found: list[dict] = []
        printed_text = False
        try:
            with connect_sse(self.http, "POST", API + path, json=body) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise ChatError(_error(source.response))
                for sse in source.iter_sse():
                    data = json.loads(sse.data) if sse.data else {}
                    if sse.event == "delta":
                        if not printed_text:
                            self.console.print("[bold cyan]assistant>[/] ", end="")
                            printed_text = True
                        self.console.print(data["text"], end="", markup=False, highlight=False)
                    elif sse.event == "message" and printed_text:
                        self.console.print()
                        printed_text = False
                    elif sse.event == "tool_call":
                        args = json.dumps(data["arguments"], ensure_ascii=False)
                        self.console.print(f"[dim]  → {data['name']}({args})[/]", markup=True, highlight=False)
                    elif sse.event == "tool_result":
                        card = data.get("card") or {}
                        mark = "✓" if data.get("ok") else "✗"
                        line = f"  {mark} {card.get('title', data['name'])}"
                        if card.get("summary"):
                            line += f": {card['summary']}"
                        self.console.print(line, style="dim", markup=False, highlight=False)
                    elif sse.event == "proposal":
                        found.append(data)
                    elif sse.event in ("notice", "trimmed"):
                        self.console.print(f"[yellow]note:[/] {data['text']}", highlight=False)
                    elif sse.event == "error":
                        self.console.print(f"[red]error:[/] {data['message']}", highlight=False)
                    elif sse.event == "done" and data.get("stopped"):
                        self.console.print("\n[yellow](stopped)[/]")
        except KeyboardInterrupt:
            self.call("POST", f"/conversations/{self.conversation}/stop")
            self.console.print("\n[yellow](stopped)[/]")
        if printed_text:
            self.console.print()
        return found

    def decide(self, proposals: list[dict]) -> None:
        """Ask about each proposed write: approve, reject, or edit then approve."""
        for p in proposals:
            self.console.print(f"[bold magenta]The assistant proposes:[/] {p['summary']}", highlight=False)
            read = (p.get("provenance") or {}).get("after_reading") or []
            if read:
                names = ", ".join(sorted({s.get("author", "?") for s in read}))
                self.console.print(f"[yellow]  proposed after reading content by {names}; check it is what you "
                                   "asked for[/]", highlight=False)
            while True:
                choice = self.ask("  [a]pprove, [r]eject or [e]dit? ").strip().lower()[:1]
                try:
                    if choice == "a":
                        done = self.call("POST", f"/proposals/{p['id']}/approve", json={})
                        self.console.print(f"  [green]done:[/] {done['summary']}", highlight=False)
                    elif choice == "r":
                        self.call("POST", f"/proposals/{p['id']}/reject")
                        self.console.print("  rejected; nothing was done")
                    elif choice == "e":
                        args = dict(p["arguments"])
                        if "text" in args:
                            args["text"] = self.ask("  new text: ") or args["text"]
                        else:
                            args = json.loads(self.ask(f"  arguments as JSON {json.dumps(args)}: ") or json.dumps(args))
                        done = self.call("POST", f"/proposals/{p['id']}/approve", json={"arguments": args})
                        self.console.print(f"  [green]done:[/] {done['summary']}", highlight=False)
                    else:
                        continue
                except (ChatError, json.JSONDecodeError) as e:
                    self.console.print(f"  [red]error:[/] {e}", highlight=False)
                    if choice == "e":
                        continue
                break

    # ---- commands ----------------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Run a /command; False means quit."""
        cmd, _, arg = line[1:].partition(" ")
        if cmd in ("quit", "exit", "q"):
            return False
        if cmd == "new":
            self.console.print(f"conversation {self.new()}")
        elif cmd == "list":
            for c in self.call("GET", "/conversations"):
                self.console.print(f"  {c['id']:>5}  {c['title']}", highlight=False)
        elif cmd == "open":
            conv = self.call("GET", f"/conversations/{arg.strip()}")
            self.conversation = conv["id"]
            for m in conv["messages"]:
                if m["role"] in ("user", "assistant") and m["content"]:
                    who = "you" if m["role"] == "user" else "assistant"
                    self.console.print(f"[bold]{who}>[/] {m['content']}", highlight=False)
        elif cmd == "rename" and self.conversation:
            self.call("PATCH", f"/conversations/{self.conversation}", json={"title": arg})
        elif cmd == "regen" and self.conversation:
            self.decide(self.send(None, regenerate=True))
        elif cmd == "memory":
            mem = self.call("GET", "/memory")
            self.console.print(f"memory is {'on' if mem['enabled'] else 'off'}")
            for f in mem["facts"]:
                self.console.print(f"  {f['id']:>4}  {f['text']}  [dim]({f['source']})[/]", highlight=False)
        elif cmd == "forget":
            self.call("DELETE", f"/memory/{arg.strip()}")
        else:
            self.console.print(HELP)
        return True

    def repl(self, first: str | None = None) -> None:
        status = self.status()
        if not status.get("available"):
            raise ChatError(status.get("message", "the assistant is not available"))
        self.console.print(f"Hearth AI on {status['model']} ({status['runtime']}). {HELP}", highlight=False)
        pending = first
        while True:
            if pending is None:
                try:
                    pending = self.ask("you> ")
                except EOFError:
                    return
            line, pending = pending.strip(), None
            if not line:
                continue
            try:
                if line.startswith("/"):
                    if not self.command(line):
                        return
                    continue
                self.decide(self.send(line))
            except ChatError as e:
                self.console.print(f"[red]error:[/] {e}", highlight=False)
