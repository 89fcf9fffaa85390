"""Which runtimes exist (from the `llm_*` settings) and which one each job uses.

Runtimes are built on first use and kept, so an app that never talks to a model never opens a connection,
and the in-process GGUF backend (an optional extra) is imported only when a runtime needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hearth.llm.types import HOW_TO_CONNECT, ChatRuntime, LLMUnavailable

if TYPE_CHECKING:
    from hearth.settings import Settings

ROLES = ("assistant", "small", "embedding")
RUNTIME_KEYS = ("base_url", "model", "api_key", "gguf_path", "timeout_seconds", "connect_retries", "context_window")


@dataclass(frozen=True)
class RuntimeConfig:
    name: str
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    gguf_path: Path | None = None
    timeout_seconds: float = 120.0
    connect_retries: int = 2
    context_window: int = 8192

    @property
    def kind(self) -> str:
        return "gguf" if self.gguf_path is not None else "http"

    @property
    def configured(self) -> bool:
        return self.base_url is not None or self.gguf_path is not None

    @property
    def effective_model(self) -> str:
        """The model asked for; a GGUF file without one is called by its file name."""
        return self.model or (self.gguf_path.stem if self.gguf_path is not None else "")


def default_config(settings: Settings) -> RuntimeConfig:
    """The runtime of the plain `HEARTH_LLM_*` settings (may be unconfigured: no URL and no file)."""
    if settings.llm_base_url and settings.llm_gguf_path:
        raise ValueError("set HEARTH_LLM_BASE_URL or HEARTH_LLM_GGUF_PATH, not both")
    return RuntimeConfig("default", base_url=settings.llm_base_url or None, model=settings.llm_model or None,
                         api_key=settings.llm_api_key or None, gguf_path=settings.llm_gguf_path,
                         timeout_seconds=settings.llm_timeout_seconds,
                         connect_retries=settings.llm_connect_retries, context_window=settings.llm_context_window)


def named_config(name: str, entry: dict[str, Any], default: RuntimeConfig) -> RuntimeConfig:
    """A `llm_runtimes` entry; what it leaves out comes from the default runtime. An entry that names its
    own location (base_url or gguf_path) does not inherit the other one."""
    where = f"HEARTH_LLM_RUNTIMES[{name!r}]"
    if name == "default":
        raise ValueError(f"{where}: 'default' is the runtime of the HEARTH_LLM_* settings; pick another name")
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object with keys {', '.join(RUNTIME_KEYS)}")
    unknown = sorted(set(entry) - set(RUNTIME_KEYS))
    if unknown:
        raise ValueError(f"{where} has unknown keys {', '.join(unknown)}; known: {', '.join(RUNTIME_KEYS)}")
    if entry.get("base_url") and entry.get("gguf_path"):
        raise ValueError(f"{where}: set base_url or gguf_path, not both")
    own_location = bool(entry.get("base_url") or entry.get("gguf_path"))
    try:
        config = RuntimeConfig(
            name,
            base_url=entry.get("base_url") if own_location else default.base_url,
            model=entry.get("model") or default.model,
            api_key=entry.get("api_key") or default.api_key,
            gguf_path=Path(entry["gguf_path"]).expanduser() if entry.get("gguf_path") else
            None if own_location else default.gguf_path,
            timeout_seconds=float(entry.get("timeout_seconds", default.timeout_seconds)),
            connect_retries=int(entry.get("connect_retries", default.connect_retries)),
            context_window=int(entry.get("context_window", default.context_window)))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from e
    if not config.configured:
        raise ValueError(f"{where} has neither base_url nor gguf_path, and the default runtime has none to lend")
    return config


def build_runtime(config: RuntimeConfig) -> ChatRuntime:
    if config.gguf_path is not None:
        from hearth.llm.llamacpp import LlamaCppRuntime  # optional extra; imported only when used
        return LlamaCppRuntime(name=config.name, gguf_path=config.gguf_path,
                               model=config.effective_model, context_window=config.context_window,
                               timeout_seconds=config.timeout_seconds)
    from hearth.llm.openai_http import OpenAIHTTPRuntime
    return OpenAIHTTPRuntime(name=config.name, base_url=config.base_url or "", model=config.model,
                             api_key=config.api_key, timeout_seconds=config.timeout_seconds,
                             connect_retries=config.connect_retries, context_window=config.context_window)


class Runtimes:
    """The configured runtimes by name, built lazily, and the (runtime, model) of each role."""

    def __init__(self, configs: dict[str, RuntimeConfig], roles: dict[str, tuple[str, str | None]]) -> None:
        self._configs = {name: c for name, c in configs.items() if c.configured}
        self._roles = roles
        self._built: dict[str, ChatRuntime] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtimes:
        """Raises ValueError for settings that cannot work (unknown keys, both a URL and a file)."""
        default = default_config(settings)
        configs = {"default": default}
        for name, entry in settings.llm_runtimes.items():
            configs[name] = named_config(name, entry, default)
        roles = {role: (getattr(settings, f"llm_{role}_runtime"), getattr(settings, f"llm_{role}_model"))
                 for role in ROLES}
        return cls(configs, roles)

    @property
    def configured(self) -> bool:
        return bool(self._configs)

    def names(self) -> list[str]:
        return list(self._configs)

    def config(self, name: str) -> RuntimeConfig:
        self._require(name)
        return self._configs[name]

    def _require(self, name: str) -> None:
        if not self._configs:
            raise LLMUnavailable(f"no language model is configured; {HOW_TO_CONNECT}")
        if name not in self._configs:
            raise LLMUnavailable(f"no runtime named {name!r} is configured; configured: {', '.join(self._configs)} "
                                 "(named runtimes come from HEARTH_LLM_RUNTIMES)")

    def get(self, name: str = "default") -> ChatRuntime:
        """The runtime called `name`, built on first use."""
        self._require(name)
        if name not in self._built:
            self._built[name] = build_runtime(self._configs[name])
        return self._built[name]

    def role_target(self, role: str) -> tuple[str, str]:
        """(runtime name, model) of a role, without building the runtime."""
        if role not in self._roles:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        name, model = self._roles[role]
        self._require(name)
        return name, model or self._configs[name].effective_model

    def for_role(self, role: str) -> tuple[ChatRuntime, str]:
        """(runtime, model) for "assistant", "small" (titles, summaries) or "embedding"."""
        name, model = self.role_target(role)
        return self.get(name), model

    def describe(self) -> list[dict[str, Any]]:
        """One row per runtime for status pages (no secrets), and the roles it serves."""
        rows = []
        for name, c in self._configs.items():
            row: dict[str, Any] = {"name": name, "kind": c.kind, "model": c.effective_model,
                                   "context_window": c.context_window,
                                   "roles": [role for role, (runtime, _) in self._roles.items() if runtime == name]}
            if c.kind == "gguf":
                row["path"] = str(c.gguf_path)
            else:
                row["url"] = c.base_url
            rows.append(row)
        return rows

    async def aclose(self) -> None:
        built, self._built = list(self._built.values()), {}
        for runtime in built:
            await runtime.aclose()
