"""Character Card V2 (the `chara_card_v2` JSON spec used by SillyTavern and others) to and from a
creator AI. Hearth's own fields travel in `data.extensions.hearth`; every other extension key and
every card field Hearth has no column for are kept and written back unchanged, as the spec asks."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.errors import Invalid
from hearth.services.studio import ais
from hearth.services.studio.ais import display_name
from hearth.storage.models import Account, CreatorAI

SPEC = "chara_card_v2"
MAX_CARD_BYTES = 1_000_000
# Card fields that map onto Hearth's own (card name -> creator AI field).
MAPPED = {"description": "personality", "first_mes": "greeting", "mes_example": "example_dialogues",
          "system_prompt": "instructions"}
KEPT = ("personality", "scenario", "creator_notes", "post_history_instructions", "alternate_greetings",
        "character_book", "tags", "creator", "character_version")
HEARTH_KEYS = ("handle", "tagline", "suggested_questions", "avoid_topics", "links", "audience", "of_creator",
               "auto_reply")


def export_card(ai: CreatorAI) -> dict[str, Any]:
    data: dict[str, Any] = {"name": display_name(ai)}
    for card_key, field in MAPPED.items():
        data[card_key] = getattr(ai, field) or ""
    extra = dict(ai.card_extra or {})
    data["personality"] = extra.pop("personality", ai.tagline or "")
    data["scenario"] = extra.pop("scenario", "")
    data["creator_notes"] = extra.pop("creator_notes", f"Made on Hearth by @{ai.owner.username}.")
    data["post_history_instructions"] = extra.pop("post_history_instructions", "")
    data["alternate_greetings"] = extra.pop("alternate_greetings", [])
    data["tags"] = extra.pop("tags", [])
    data["creator"] = extra.pop("creator", ai.owner.username)
    data["character_version"] = extra.pop("character_version", "1")
    data.update(extra)  # character_book and anything else the imported card had
    extensions = dict(ai.card_extensions or {})
    extensions["hearth"] = {"handle": ai.account.username, "tagline": ai.tagline,
                            "suggested_questions": list(ai.suggested_questions or []),
                            "avoid_topics": list(ai.avoid_topics or []), "links": list(ai.links or []),
                            "audience": ai.audience, "of_creator": ai.of_creator, "auto_reply": ai.auto_reply}
    data["extensions"] = extensions
    return {"spec": SPEC, "spec_version": "2.0", "data": data}


def parse_card(card: Any) -> dict[str, Any]:
    """A card (V2, or a V1 card: the same fields at the top level) as keyword arguments for
    `ais.create` plus `card_extra` and `card_extensions` to keep."""
    if not isinstance(card, dict):
        raise Invalid("a character card is a JSON object")
    if card.get("spec") == SPEC:
        data = card.get("data")
        if not isinstance(data, dict):
            raise Invalid("a chara_card_v2 card needs a `data` object")
    elif "spec" in card:
        raise Invalid(f"unsupported card spec {card.get('spec')!r}; Hearth reads chara_card_v2 (and V1) cards")
    else:
        data = card
    name = str(data.get("name") or "").strip()
    if not name:
        raise Invalid("the card has no name")
    extensions = data.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise Invalid("`extensions` must be an object")
    extensions = dict(extensions)
    hearth = extensions.pop("hearth", None) or {}
    if not isinstance(hearth, dict):
        raise Invalid("`extensions.hearth` must be an object")
    fields: dict[str, Any] = {field: str(data.get(card_key) or "") for card_key, field in MAPPED.items()}
    fields["tagline"] = str(hearth.get("tagline") or data.get("personality") or "")[:200]
    for key in ("suggested_questions", "avoid_topics", "links", "audience", "of_creator", "auto_reply"):
        if key in hearth:
            fields[key] = hearth[key]
    extra = {k: data[k] for k in KEPT if k in data}
    extra.update({k: v for k, v in data.items() if k not in (*MAPPED, *KEPT, "name", "extensions")})
    handle = str(hearth.get("handle") or "") or (re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:27] + "_ai")
    return {"name": name, "handle": handle, "fields": fields, "card_extra": extra, "card_extensions": extensions}


async def import_card(db: AsyncSession, owner: Account, raw: bytes, handle: str | None = None) -> CreatorAI:
    """A new AI of `owner` from a card file's bytes (the web form and the API both come here)."""
    if len(raw) > MAX_CARD_BYTES:
        raise Invalid("the card file is larger than 1 MB")
    try:
        card = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Invalid("the card is not a JSON file") from None
    parsed = parse_card(card)
    ai = await ais.create(db, owner, parsed["name"], handle or parsed["handle"], **parsed["fields"])
    await ais.set_card_extras(db, owner, ai.id, parsed["card_extra"], parsed["card_extensions"])
    return await ais.owned(db, owner, ai.id)
