"""Where "For you" candidates come from: one small class per source, one signature
(`fetch(db, SourceRequest) -> list[PostFacts]`), one exclusion rule (`base.excluded`). A new
source is one file here and one line in `default_sources`."""

from __future__ import annotations

from hearth.serving.sources.base import PostSource, SourceRequest, excluded
from hearth.serving.sources.co_liked import CoLiked
from hearth.serving.sources.following import FollowingPosts
from hearth.serving.sources.liked_by_following import LikedByFollowing
from hearth.serving.sources.model_nearest import ModelNearest
from hearth.serving.sources.popular import PopularRecent
from hearth.serving.sources.suggested_authors import SuggestedAuthors


def default_sources() -> list[PostSource]:
    """Every source, in the order their findings merge (the first to find a post names its source)."""
    return [FollowingPosts(), LikedByFollowing(), CoLiked(), PopularRecent(), ModelNearest(), SuggestedAuthors()]


__all__ = ["PostSource", "SourceRequest", "default_sources", "excluded"]
