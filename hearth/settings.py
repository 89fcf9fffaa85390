"""Every setting of the app in one place: `HEARTH_*` environment variables, overridden by
command-line flags (the CLI passes them as keyword arguments)."""

from __future__ import annotations

from pathlib import Path

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
    # Feed ranking: value = sum of weight * p(verb); negative weights push down what people hide or mute.
    value_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_VALUE_WEIGHTS))
    freshness_half_life_hours: float = Field(24.0, gt=0)
    max_posts_per_author: int = Field(2, ge=1)  # per feed page
    seen_grace_minutes: float = Field(30.0, ge=0)  # an impression older than this hides the post from "For you"
    feed_window_hours: float = Field(72.0, gt=0)  # how far back candidate sources look for posts
    feed_out_of_network_share: float = Field(0.3, ge=0, le=1)  # aimed share of a page from accounts not followed
    people_graph_weight: float = Field(1.0, ge=0)  # people: model z-score + weight * log1p(Adamic-Adar)
    feed_model_weight: float = Field(1.0, ge=0)  # feed: weight of the model's next-post score in p(engage)
    text_model: str | None = None  # sentence-transformers name or folder, for post text embeddings
    session_days: int = Field(30, ge=1)
    secure_cookies: bool = False  # set when served over https
    # `hearth demo`: how much to seed (LastFM-2k's most-listened artists become accounts; synthetic sizes).
    demo_top_artists: int = Field(500, ge=1, le=17_632)
    demo_accounts: int = Field(1_000, ge=2)
    demo_posts: int = Field(20_000, ge=1)
    demo_events: int = Field(150_000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        url = async_database_url(v)
        if not (url.startswith("sqlite+aiosqlite:") or url.startswith("postgresql+psycopg:")):
            raise ValueError(f"database URL must be sqlite:///PATH or postgresql://..., not {v!r}")
        return v

    @property
    def async_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def sync_url(self) -> str:
        return sync_database_url(self.database_url)
