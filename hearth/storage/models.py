"""The app's tables (SQLAlchemy 2). Alembic migrations in `migrations/` create them; every
action also appends a row to `events`, the log the unified model trains on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer, "sqlite")

VISIBILITIES = ("public", "unlisted", "private", "direct")
NOTIFICATION_TYPES = ("mention", "reblog", "favourite", "follow", "follow_request")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s"})


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(30))
    username_key: Mapped[str] = mapped_column(String(30), unique=True)  # lower-case, for lookups
    display_name: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None: cannot log in (seeded creators)
    bot: Mapped[bool] = mapped_column(Boolean, default=False)
    is_ai: Mapped[bool] = mapped_column(Boolean, default=False)  # a creator's AI (AI Studio); set by its services only
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="")
    spoiler_text: Mapped[str] = mapped_column(String(500), default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(16))
    visibility: Mapped[str] = mapped_column(String(10), default="public")
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    in_reply_to_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    reblog_of_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    replies_count: Mapped[int] = mapped_column(Integer, default=0)
    favourites_count: Mapped[int] = mapped_column(Integer, default=0)
    reblogs_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship(foreign_keys=[account_id], lazy="raise")
    reblog: Mapped[Post | None] = relationship(foreign_keys=[reblog_of_id], remote_side=[id], lazy="raise")

    __table_args__ = (
        Index("ix_posts_account_id_id", "account_id", "id"),
        Index("ix_posts_in_reply_to_id", "in_reply_to_id"),
        Index("ix_posts_reblog_of_id", "reblog_of_id"),
        Index("ix_posts_visibility_id", "visibility", "id"),
    )


class Mention(Base):
    __tablename__ = "mentions"
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    __table_args__ = (Index("ix_mentions_account_id", "account_id"),)


class PostTag(Base):
    __tablename__ = "post_tags"
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)  # lower-case, without '#'
    __table_args__ = (Index("ix_post_tags_name_post_id", "name", "post_id"),)


class Follow(Base):
    __tablename__ = "follows"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    target_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("account_id", "target_account_id", name="uq_follows_pair"),
                      Index("ix_follows_target_account_id", "target_account_id"))


class FollowRequest(Base):
    """A follow of a locked account that waits for the account to authorize (or reject) it."""

    __tablename__ = "follow_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))  # who asks
    target_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("account_id", "target_account_id", name="uq_follow_requests_pair"),
                      Index("ix_follow_requests_target_account_id", "target_account_id"))


class Favourite(Base):
    __tablename__ = "favourites"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("account_id", "post_id", name="uq_favourites_pair"),
                      Index("ix_favourites_post_id", "post_id"))


class IdempotencyKey(Base):
    """A post created under a client's Idempotency-Key: a retry (even after a restart) gets the
    same post back instead of a duplicate. Written in the post's own transaction."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_idempotency_keys_account_key"),)


class Block(Base):
    __tablename__ = "blocks"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    target_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("account_id", "target_account_id", name="uq_blocks_pair"),
                      Index("ix_blocks_target_account_id", "target_account_id"))


class Mute(Base):
    __tablename__ = "mutes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    target_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("account_id", "target_account_id", name="uq_mutes_pair"),)


class Notification(Base):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))  # recipient
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    from_account: Mapped[Account] = relationship(foreign_keys=[from_account_id], lazy="raise")
    post: Mapped[Post | None] = relationship(foreign_keys=[post_id], lazy="raise")
    __table_args__ = (Index("ix_notifications_account_id_id", "account_id", "id"),)


class OAuthApp(Base):
    __tablename__ = "oauth_apps"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(500))
    redirect_uris: Mapped[str] = mapped_column(Text)  # newline separated
    scopes: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OAuthCode(Base):
    __tablename__ = "oauth_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(500))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OAuthToken(Base):
    __tablename__ = "oauth_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the bearer token
    app_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    scopes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the cookie value
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Events that are actions (a follow, like, hide, ...), not what was merely seen; a constant
# clause, so that queries can use the partial index built on it.
ACTION_VERBS_SQL = "verb NOT IN ('impression', 'dwell')"


class EventRow(Base):
    """An event (README "The app", Storage): who did what to which target (a post = item, an account), when.
    Append-only: rows are never updated or deleted by the app."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    verb: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(8))  # "item" (a post) or "account"
    target_id: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    value: Mapped[float] = mapped_column(Float, default=1.0)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_events_account_id_id", "account_id", "id"),
                      Index("ix_events_account_id_verb_target_id", "account_id", "verb", "target_id"),
                      # the viewer's latest action: a feed records many impressions per action
                      Index("ix_events_account_id_id_actions", "account_id", "id",
                            sqlite_where=text(ACTION_VERBS_SQL), postgresql_where=text(ACTION_VERBS_SQL)))


class ModelRun(Base):
    """One `hearth train --from-db` run: what it read and where its snapshot went."""

    __tablename__ = "model_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    snapshot_path: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    events_used: Mapped[int] = mapped_column(BigInteger, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# ---- Hearth AI: the assistant's conversations, proposed writes, memory and usage ---------------
class AssistantConversation(Base):
    """A conversation of a person with the assistant, or (ai_id set) with a creator's AI."""

    __tablename__ = "assistant_conversations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    ai_id: Mapped[int | None] = mapped_column(ForeignKey("creator_ais.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="")
    title_by_user: Mapped[bool] = mapped_column(Boolean, default=False)  # a renamed title is never overwritten
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (Index("ix_assistant_conversations_account_id_updated_at", "account_id", "updated_at"),)


class AssistantMessage(Base):
    """One message of a conversation as the model sees it (system prompts are never stored):
    user, assistant (text and/or tool calls with parsed arguments), tool (a result, already marked
    as quoted data), or note (what the person did with a proposal, shown to the model as context)."""

    __tablename__ = "assistant_messages"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("assistant_conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))  # user | assistant | tool | note
    content: Mapped[str] = mapped_column(Text, default="")
    tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{id, name, arguments}]
    tool_call_id: Mapped[str | None] = mapped_column(String(100))
    tool_name: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="complete")  # complete | stopped | error
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the tool card, usage, trimming notes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (Index("ix_assistant_messages_conversation_id_id", "conversation_id", "id"),)


class AssistantProposal(Base):
    """A write the assistant wants to make for the person: nothing happens until they approve it."""

    __tablename__ = "assistant_proposals"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("assistant_conversations.id", ondelete="CASCADE"))
    tool_call_id: Mapped[str] = mapped_column(String(100))
    tool: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[str] = mapped_column(Text, default="")  # "Follow @ann", "Publish: 'Hello ...'"
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the request and what was read before
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | approved | rejected | failed
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_assistant_proposals_account_id_status", "account_id", "status"),)


class AssistantMemory(Base):
    """A fact the assistant keeps about its person; they see, edit and delete every one."""

    __tablename__ = "assistant_memories"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(300), default="")  # where it came from, in words
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("assistant_conversations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (Index("ix_assistant_memories_account_id", "account_id"),)


class AssistantPrefs(Base):
    """Per-person assistant settings; quota columns left empty use the instance's defaults."""

    __tablename__ = "assistant_prefs"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    memory_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tokens_per_day: Mapped[int | None] = mapped_column(Integer)
    messages_per_window: Mapped[str | None] = mapped_column(String(40))


class AssistantUsage(Base):
    """Tokens the assistant spent for a person per UTC day (the daily quota)."""

    __tablename__ = "assistant_usage"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)


# ---- AI Studio: creators' own AIs ----------------------------------------------------------------
AUDIENCES = ("public", "followers", "only_me")


class CreatorAI(Base):
    """An AI a person made. It is an account of its own (`account_id`, a bot) owned by its creator.
    The Character Card V2 fields Hearth does not use are kept (`card_extra`, `card_extensions`) so an
    exported card carries everything an imported one had."""

    __tablename__ = "creator_ais"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    of_creator: Mapped[bool] = mapped_column(Boolean, default=False)  # an AI of the creator themselves
    tagline: Mapped[str] = mapped_column(String(200), default="")
    greeting: Mapped[str] = mapped_column(Text, default="")
    suggested_questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    personality: Mapped[str] = mapped_column(Text, default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    example_dialogues: Mapped[str] = mapped_column(Text, default="")
    avoid_topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)  # [{"title", "url"}]
    audience: Mapped[str] = mapped_column(String(10), default="public")
    runtime: Mapped[str] = mapped_column(String(100), default="")  # "" = the assistant's runtime
    model: Mapped[str] = mapped_column(String(200), default="")  # "" = that runtime's model
    auto_reply: Mapped[bool] = mapped_column(Boolean, default=True)  # answer DMs by itself
    avatar: Mapped[bytes | None] = mapped_column(LargeBinary)
    avatar_type: Mapped[str | None] = mapped_column(String(40))
    card_extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    card_extensions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account] = relationship(foreign_keys=[account_id], lazy="raise")
    owner: Mapped[Account] = relationship(foreign_keys=[owner_id], lazy="raise")
    __table_args__ = (Index("ix_creator_ais_owner_id", "owner_id"),)


class AIKnowledge(Base):
    """One source an AI knows: a post of its creator (kept in sync) or a note they uploaded."""

    __tablename__ = "ai_knowledge"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ai_id: Mapped[int] = mapped_column(ForeignKey("creator_ais.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # post | note
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the post's edited_at when indexed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (Index("ix_ai_knowledge_ai_id_kind", "ai_id", "kind"),
                      UniqueConstraint("ai_id", "post_id", name="uq_ai_knowledge_ai_post"))


class AIKnowledgeChunk(Base):
    """A passage of a knowledge source, with its sentence embedding (float32 bytes) when computed."""

    __tablename__ = "ai_knowledge_chunks"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ai_id: Mapped[int] = mapped_column(ForeignKey("creator_ais.id", ondelete="CASCADE"))
    knowledge_id: Mapped[int] = mapped_column(ForeignKey("ai_knowledge.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embed_model: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (Index("ix_ai_knowledge_chunks_ai_id", "ai_id"),
                      Index("ix_ai_knowledge_chunks_knowledge_id", "knowledge_id"))


class AIDirectThread(Base):
    """A direct-message conversation between a fan and an AI: who answers it (the AI, or its
    creator who took it over)."""

    __tablename__ = "ai_dm_threads"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ai_id: Mapped[int] = mapped_column(ForeignKey("creator_ais.id", ondelete="CASCADE"))
    root_post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    fan_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8), default="ai")  # ai | creator
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("ai_id", "root_post_id", name="uq_ai_dm_threads_ai_root"),)


class AIDirectReply(Base):
    """The AI's handling of one incoming direct message: at most one answer per message."""

    __tablename__ = "ai_dm_replies"
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    ai_id: Mapped[int] = mapped_column(ForeignKey("creator_ais.id", ondelete="CASCADE"))
    reply_post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | replied | skipped | failed
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
