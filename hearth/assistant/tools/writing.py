"""Write tools. The model never writes: `propose` checks the target and describes the exact
action; the person approves (possibly after editing the arguments) and only then `apply` runs,
as them, through the ordinary services, which record the same events as any other action."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.assistant.tools.base import Proposal, Tool, ToolContext, ToolResult
from hearth.assistant.tools.present import account_item, post_data, post_item
from hearth.assistant.tools.reading import _account
from hearth.services import graph
from hearth.services import posts as post_service
from hearth.services.assistant import memory
from hearth.services.errors import Invalid
from hearth.storage.models import Account


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class PostTextArgs(_Args):
    text: str = Field(min_length=1, max_length=5000, description="the post's text")
    visibility: Literal["public", "unlisted", "private", "direct"] = Field("public")
    in_reply_to_id: str | None = Field(None, pattern=r"^[0-9]{1,19}$", description="reply to this post id")


class PostIdArgs(_Args):
    post_id: str = Field(pattern=r"^[0-9]{1,19}$")


class UsernameArgs(_Args):
    username: str = Field(min_length=1, max_length=64, description="e.g. @ann")


class FactArgs(_Args):
    fact: str = Field(min_length=1, max_length=500, description="one short fact about the person, in third person")


def _quote(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return f"“{text[:n]}{'…' if len(text) > n else ''}”"


async def _post_proposal(ctx: ToolContext, db: AsyncSession, viewer: Account, a: PostTextArgs,
                         verb: str) -> Proposal:
    limit = ctx.settings.max_post_chars
    if len(a.text.strip()) > limit:
        raise Invalid(f"the post is {len(a.text.strip())} characters; the limit is {limit}")
    card: dict = {"text": a.text}
    what = f"{verb} a {a.visibility} post"
    if a.in_reply_to_id:
        parent = await post_service.get_post(db, viewer, a.in_reply_to_id)
        what = f"{verb} a {a.visibility} reply to @{parent.account.username}"
        card["items"] = [post_item(parent, "replying to")]
    return Proposal(f"{what}: {_quote(a.text)}", a.model_dump(), card)


async def propose_draft(ctx: ToolContext, db: AsyncSession, viewer: Account, a: PostTextArgs) -> Proposal:
    p = await _post_proposal(ctx, db, viewer, a, "Publish (draft)")
    p.card["draft"] = True
    return p


async def propose_publish(ctx: ToolContext, db: AsyncSession, viewer: Account, a: PostTextArgs) -> Proposal:
    return await _post_proposal(ctx, db, viewer, a, "Publish")


async def apply_publish(ctx: ToolContext, db: AsyncSession, viewer: Account, a: PostTextArgs) -> ToolResult:
    post = await post_service.create_post(db, viewer, a.text, in_reply_to_id=a.in_reply_to_id,
                                          visibility=a.visibility, max_chars=ctx.settings.max_post_chars,
                                          domain=ctx.settings.instance_domain)
    return ToolResult({"published": post_data(post)}, {"title": "Published", "items": [post_item(post)]})


async def propose_favourite(ctx: ToolContext, db: AsyncSession, viewer: Account, a: PostIdArgs) -> Proposal:
    post = await post_service.get_post(db, viewer, a.post_id)
    return Proposal(f"Favourite @{post.account.username}'s post {_quote(post.text, 80)}", a.model_dump(),
                    {"items": [post_item(post)]})


async def apply_favourite(ctx: ToolContext, db: AsyncSession, viewer: Account, a: PostIdArgs) -> ToolResult:
    post = await post_service.favourite(db, viewer, a.post_id)
    return ToolResult({"favourited": post_data(post)}, {"title": "Favourited", "items": [post_item(post)]})


def _graph_tool(name: str, verb: str, action) -> Tool:  # noqa: ANN001 - a graph service function
    async def propose(ctx: ToolContext, db: AsyncSession, viewer: Account, a: UsernameArgs) -> Proposal:
        target = await _account(ctx, db, viewer, a.username)
        if target.id == viewer.id:
            raise Invalid(f"you cannot {name} yourself")
        return Proposal(f"{verb} @{target.username}", {"username": "@" + target.username},
                        {"items": [account_item(target)]})

    async def apply(ctx: ToolContext, db: AsyncSession, viewer: Account, a: UsernameArgs) -> ToolResult:
        target = await _account(ctx, db, viewer, a.username)
        await action(db, viewer, target.id)
        return ToolResult({"done": f"{verb.lower()} @{target.username}"},
                          {"title": f"{verb} @{target.username}", "items": [account_item(target)]})

    return Tool(name, f"{verb} an account (asks the person to approve first).", UsernameArgs, "write",
                propose=propose, apply=apply)


async def propose_remember(ctx: ToolContext, db: AsyncSession, viewer: Account, a: FactArgs) -> Proposal:
    if not (await memory.prefs(db, viewer)).memory_enabled:
        raise Invalid("memory is switched off by the person; nothing was kept")
    return Proposal(f"Remember: {_quote(a.fact, 200)}", a.model_dump(), {"text": a.fact})


async def apply_remember(ctx: ToolContext, db: AsyncSession, viewer: Account, a: FactArgs) -> ToolResult:
    where = f"conversation {ctx.conversation_id}" if ctx.conversation_id else "a conversation"
    fact = await memory.add(db, viewer, a.fact, f"Saved by the assistant in {where}", ctx.conversation_id)
    return ToolResult({"remembered": fact.text}, {"title": "Remembered", "text": fact.text})


WRITE_TOOLS = [
    Tool("draft_post", "Draft a post or reply for the person to review, edit and publish.", PostTextArgs, "write",
         propose=propose_draft, apply=apply_publish),
    Tool("publish_post", "Publish a post or a reply as the person (asks them to approve first).", PostTextArgs,
         "write", propose=propose_publish, apply=apply_publish),
    Tool("favourite", "Favourite (like) a post (asks the person to approve first).", PostIdArgs, "write",
         propose=propose_favourite, apply=apply_favourite),
    _graph_tool("follow", "Follow", graph.follow),
    _graph_tool("unfollow", "Unfollow", graph.unfollow),
    _graph_tool("mute", "Mute", graph.mute),
    _graph_tool("block", "Block", graph.block),
    Tool("remember", "Keep a fact about the person in your memory (they can see, edit and delete it). Only for "
         "things the person told you about themselves.", FactArgs, "write", propose=propose_remember,
         apply=apply_remember, direct_when_untainted=True),
]
