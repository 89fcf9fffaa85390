"""Every setting of the app in one place: `HEARTH_*` environment variables, overridden by
command-line flags (the CLI passes them as keyword arguments)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VALUE_WEIGHTS = {"like": 1.0, "reply": 2.0, "share": 1.5, "dwell": 0.5, "hide": -4.0, "mute": -6.0,
                         "block": -8.0}


def async_database_url(url: str) -> str:
    """Accept the URLs people write (`sqlite:///x.db`, `postgresql://...`) and pick the async driver."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:"):]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sync_database_url(url: str) -> str:
    """The same database through a synchronous driver (Alembic, bulk seeding)."""
    url = async_database_url(url)
    return url.replace("sqlite+aiosqlite:", "sqlite:", 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARTH_", extra="ignore")

    database_url: str = "sqlite:///hearth.db"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path | None = None
    snapshot_dir: Path = Path("snapshots/app")
    snapshot_poll_seconds: float = Field(5.0, gt=0)
    instance_title: str = "Hearth"
    instance_domain: str = "localhost"
    instance_description: str = "A self-hosted social app with one unified recommendation model."
    instance_banner: str = ""  # shown on every page when set; `hearth serve` sets it for seeded demo data
    registrations_open: bool = True
    max_post_chars: int = Field(500, ge=1, le=100_000)
    max_bio_chars: int = Field(500, ge=0)
    # Rate limits ("N per period", the `limits` library's notation); empty string disables one.
    rate_limit_writes_per_user: str = "60/minute"
    rate_limit_writes_per_ip: str = "300/minute"
    rate_limit_logins_per_ip: str = "10/minute"
    rate_limit_logins_per_account: str = "10/minute"
    # State that several worker processes must share (rate limits, assistant and AI quotas, streams):
    # a Redis URL (redis://127.0.0.1:6379/0); unset keeps it in this process, right for one worker.
    redis_url: str | None = None
    # SQLite: "full" (a commit is on disk when it returns: an acknowledged post survives power
    # loss) or "normal" (WAL's lighter mode: survives a crash of the process, may lose the last
    # commits on power loss; about 2.5x the posting rate of "full" on the benchmark machine).
    sqlite_synchronous: Literal["full", "normal"] = "full"
    workers: int = Field(1, ge=1, le=64)  # `hearth serve` worker processes behind one port (>1 needs redis_url)
    # Feed ranking: value = sum of weight * p(verb); negative weights push down what people hide or mute.
    value_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_VALUE_WEIGHTS))
    freshness_half_life_hours: float = Field(24.0, gt=0)
    max_posts_per_author: int = Field(2, ge=1)  # per feed page
    seen_grace_minutes: float = Field(30.0, ge=0)  # an impression older than this hides the post from "For you"
    feed_window_hours: float = Field(72.0, gt=0)  # how far back candidate sources look for posts
    feed_out_of_network_share: float = Field(0.3, ge=0, le=1)  # aimed share of a page from accounts not followed
    people_graph_weight: float = Field(1.0, ge=0)  # people: model z-score + weight * log1p(Adamic-Adar)
    feed_cache_seconds: float = Field(300.0, ge=0)  # a viewer's ranked list is reused this long (0: rank each time)
    feed_refresh_seconds: float = Field(5.0, gt=0)  # how often lists of active viewers are looked at for refresh
    feed_model_weight: float = Field(1.0, ge=0)  # feed: weight of the model's next-post score in p(engage)
    max_body_bytes: int = Field(1_000_000, ge=1024)  # JSON, form and other request bodies (413 above)
    max_upload_bytes: int = Field(12_000_000, ge=1024)  # multipart bodies: voice audio, avatars, notes
    max_json_depth: int = Field(64, ge=2)  # deeper JSON is refused (400) before anything parses it
    max_query_bytes: int = Field(8192, ge=256)  # longer query strings: 414
    feed_value_model: Path | None = None  # a learned value model (serving/value_model.py) instead of the blend
    text_model: str | None = None  # sentence-transformers name or folder, for post text embeddings
    session_days: int = Field(30, ge=1)
    secure_cookies: bool = False  # set when served over https
    # `hearth demo`: how much to seed (LastFM-2k's most-listened artists become accounts; synthetic sizes).
    demo_top_artists: int = Field(500, ge=1, le=17_632)
    demo_accounts: int = Field(1_000, ge=2)
    demo_posts: int = Field(20_000, ge=1)
    demo_events: int = Field(150_000, ge=1)
    # LLM runtimes (hearth/llm). The default runtime: an OpenAI-compatible server (Ollama, llama.cpp
    # `llama-server --jinja`, vLLM, LM Studio) by URL, or a local GGUF file run in-process.
    llm_base_url: str | None = None  # e.g. http://127.0.0.1:11434/v1
    llm_model: str | None = None  # e.g. llama3.2
    llm_api_key: str | None = None
    llm_gguf_path: Path | None = None  # in-process through llama-cpp-python (extra `llm-local`)
    llm_timeout_seconds: float = Field(120.0, gt=0)  # per request, for the whole streamed answer
    llm_connect_retries: int = Field(2, ge=0, le=10)  # retries with backoff when the server cannot be reached
    llm_context_window: int = Field(8192, ge=256)  # tokens; older history is trimmed (and said so) to fit
    # More runtimes by name: {"fast": {"base_url": "...", "model": "...", "api_key": "...", "context_window": 4096},
    # "local": {"gguf_path": "/models/x.gguf"}}. Missing fields fall back to the default runtime's.
    llm_runtimes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Roles: which runtime ("default" or a name above) and model each job uses; empty = the runtime's model.
    llm_assistant_runtime: str = "default"
    llm_assistant_model: str | None = None
    llm_small_runtime: str = "default"  # summaries and conversation titles
    llm_small_model: str | None = None
    llm_embedding_runtime: str = "default"
    llm_embedding_model: str | None = None
    # The assistant: per-user limits (admins set these defaults; empty rate disables).
    assistant_messages_per_user: str = "30/minute"
    assistant_tokens_per_day: int = Field(200_000, ge=0)  # 0 disables
    assistant_concurrent_streams: int = Field(2, ge=1)
    assistant_max_tool_rounds: int = Field(6, ge=1, le=20)  # model calls per user message
    assistant_max_answer_tokens: int = Field(1024, ge=16)
    # AI Studio: how often fans may message a creator's AI (chat, DMs, the OpenAI-compatible API).
    studio_messages_per_fan: str = "20/minute"  # per fan and AI
    studio_messages_per_ai: str = "600/hour"  # per AI, all fans together
    studio_dm_poll_seconds: float = Field(2.0, gt=0)  # how often new direct messages to AIs are looked for

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        url = async_database_url(v)
        if not (url.startswith("sqlite+aiosqlite:") or url.startswith("postgresql+psycopg:")):
            raise ValueError(f"database URL must be sqlite:///PATH or postgresql://..., not {v!r}")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            return None
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"Redis URL must be redis://HOST:PORT/DB, rediss://... or unix://PATH, not {v!r}")
        return v

    @property
    def async_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def sync_url(self) -> str:
        return sync_database_url(self.database_url)

    # ---- Voice (hearth/voice): speech in and out for talking to the AIs ------------------------------
    # Speech to text: "auto" uses the OpenAI-compatible server when HEARTH_STT_BASE_URL is set (speaches,
    # whisper.cpp server, LocalAI: POST {base}/audio/transcriptions), else offline pocketsphinx (extra `voice`).
    stt_backend: Literal["auto", "http", "pocketsphinx", "off"] = "auto"
    stt_base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1
    stt_model: str = "whisper-1"
    stt_api_key: str | None = None
    stt_language: str | None = None  # default language hint for the server (e.g. "en"); None lets it detect
    # Text to speech: "auto" uses the server when HEARTH_TTS_BASE_URL is set (POST {base}/audio/speech),
    # else offline espeak-ng (Debian package `espeak-ng`).
    tts_backend: Literal["auto", "http", "espeak", "off"] = "auto"
    tts_base_url: str | None = None
    tts_model: str = "tts-1"
    tts_voice: str = "alloy"
    tts_api_key: str | None = None
    tts_format: Literal["mp3", "wav", "opus", "aac", "flac", "pcm"] = "mp3"  # asked of the server
    tts_max_chars: int = Field(2000, ge=1, le=100_000)  # longer text is cut at a word boundary (and said so)
    espeak_path: str = "espeak-ng"  # a name on PATH or a full path
    espeak_voice: str = "en-us+f5"  # the espeak voice the offline recogniser understands best (benchmarks/voice.py)
    espeak_speed: int = Field(150, ge=80, le=450)  # words per minute
    # Both directions.
    voice_timeout_seconds: float = Field(60.0, gt=0)  # per request to a server, or per espeak-ng run
    voice_connect_retries: int = Field(2, ge=0, le=10)  # retries with backoff when a server cannot be reached
    voice_max_audio_seconds: float = Field(60.0, gt=0)
    voice_max_audio_bytes: int = Field(10_000_000, ge=1)
    voice_requests_per_user: str = "60/minute"  # transcribe + speak; empty string disables

    # ---- AI Studio: what creators' AIs know ------------------------------------------------------------
    # Sentence-transformers model (hub name or local folder) for searching the AIs' posts and notes by
    # meaning as well as by keywords; None = keyword search only.
    studio_embedding_model: str | None = None
