"""The HetRec 2011 Last.fm 2K data as a Hearth community.

Mapping (deterministic for a given `seed` and `anchor`):

- **Listeners.** Each of the 1,892 users becomes an account `listener_<userID>` ("Last.fm
  listener <userID>", bio naming their three most-played artists). These accounts have no
  password; one separate log-in account, `demo`, is created last (see community.py).
- **Friendships** (`user_friends.dat`, listed both ways) become follows both ways. The data has
  no times: the first direction gets a seeded time between the later of the two accounts'
  creation and the end of the data, the follow-back follows it after an exponential delay.
- **Artists.** The `top_artists` artists with the most listeners (ties: more plays, then lower
  id) become creator accounts (not bots), display name = artist name, username = the name
  folded to ASCII letters, digits and `_` (deduplicated with `_2`, `_3`...; `artist_<id>` when
  nothing is left).
- **Time.** Tag assignments (`user_taggedartists.dat`) are the only dated rows: each is local
  midnight (Europe/Madrid) of its day, as in the dataset's own timestamps file; the 7 rows dated
  before 2005 (years 1956, 1957, 1979: impossible for Last.fm) are dropped. All times are shifted
  by one offset so that the data ends an hour before `anchor` (default: now), which keeps the
  real order and gaps while the feed looks alive. Times of day are seeded.
- **Artist posts.** Every (top artist, month) with tag assignments gives one post by the artist
  on the first tagged day of that month: "New from <artist>: #tag #tag #tag", the month's three
  most used tags as hashtags.
- **Listener posts.** Every (listener, day) with tag assignments gives one post: "Listening to
  @artist, Name and 2 more #tag #tag", top artists mentioned by their account.
- **Likes: the time-ordered engagement signal.** A listener who tagged a top artist in a month
  likes that month's artist post at the time of their tagging (real dates). Listening counts
  add likes too: a listener of a top artist with play count w likes 1 + floor(log10 w) of the
  artist's posts written after the listener joined (seeded choice), an exponential delay
  (mean 12 h) after the post.
- **Artist follows.** Every listener of a top artist follows the artist, shortly before their
  first like of the artist's posts (seeded time when they never liked one).
- **Accounts' creation times**: a listener joins 1-30 days before their first tag assignment;
  an artist 3-30 days before its first post.

Not written: replies, reblogs and notifications (nobody logs in as these accounts), listening
and tagging as events (the app's services never write those verbs).
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from hearth.data.files import locate
from hearth.data.lastfm import LASTFM_FILES
from hearth.data.registry import dataset_folder
from hearth.data.text import columns, drop_first_line, read_text
from hearth.services.posts import MENTION_RE, TAG_RE
from hearth.services.seed.community import DEMO_USERNAME, US, Community

DAY = 86_400
HOUR = 3_600
DEFAULT_TOP_ARTISTS = 500
FIRST_PLAUSIBLE_YEAR = 2005  # Last.fm tagging began after 2002; earlier years are typos
BANNER = ("Demo community built from the HetRec 2011 Last.fm dataset (non-commercial use): real listeners, "
          "friendships and artists; posts and likes are derived from dated tag assignments, shifted to end now.")
ARTIST_TEMPLATES = ("New from {name}: {tags}", "{name} this month: {tags}", "Fresh from {name}: {tags}")


def lastfm_files(data_dir: Path | None) -> list[Path]:
    """The five files this seed reads, checksum-verified; DataError names what is missing."""
    folder = dataset_folder("lastfm-2k", data_dir)
    wants = [("listening counts", ("user_artists.dat",)), ("friend list", ("user_friends.dat",)),
             ("artist list", ("artists.dat",)), ("tag assignments", ("user_taggedartists.dat",)),
             ("tag names", ("tags.dat",))]
    return locate(folder, "lastfm-2k", wants, LASTFM_FILES)


def _int_columns(path: Path, n: int, encoding: str = "ascii") -> list[np.ndarray]:
    text = drop_first_line(read_text(path, encoding))
    return [np.array(col, dtype=np.int64) for col in columns(path, text, n, first_lineno=2)]


def _named(path: Path, encoding: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for line in drop_first_line(read_text(path, encoding)).split("\n"):
        if line.strip():
            fields = line.split("\t")
            out[int(fields[0])] = fields[1:]
    return out


def _madrid_midnights(day: np.ndarray, month: np.ndarray, year: np.ndarray) -> np.ndarray:
    from zoneinfo import ZoneInfo
    tz = ZoneInfo("Europe/Madrid")
    keys = year * 10_000 + month * 100 + day
    uniq, inverse = np.unique(keys, return_inverse=True)
    secs = np.array([dt.datetime(k // 10_000, k // 100 % 100, k % 100, tzinfo=tz).timestamp() for k in uniq.tolist()],
                    dtype=np.int64)
    return secs[inverse]


def hashtag(tag: str) -> str:
    """'alternative metal' -> 'alternativemetal'; '80's' -> '80s' (what TAG_RE will read back)."""
    return re.sub(r"\W", "", tag)[:100]


def username_from_name(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "_", folded).strip("_")[:30].rstrip("_")


def _unique(base: str, taken: set[str]) -> str:
    name, k = base, 1
    while name.lower() in taken:
        k += 1
        suffix = f"_{k}"
        name = base[:30 - len(suffix)] + suffix
    taken.add(name.lower())
    return name


def _top_tags(counter: Counter[int], tag_names: dict[int, list[str]], n: int = 3) -> list[str]:
    out: list[str] = []
    for tag_id, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
        tag = hashtag(tag_names.get(tag_id, [""])[0])
        if tag and tag.lower() not in (t.lower() for t in out):
            out.append(tag)
        if len(out) == n:
            break
    return out


def build_lastfm(data_dir: Path | None, top_artists: int = DEFAULT_TOP_ARTISTS, anchor: dt.datetime | None = None,
                 seed: int = 0) -> Community:
    """Read LastFM-2k from the data directory and describe it as a community (see the docstring)."""
    if top_artists < 1:
        raise ValueError("top_artists must be at least 1")
    listens_p, friends_p, artists_p, tagged_p, tags_p = lastfm_files(data_dir)
    lu, la, lw = _int_columns(listens_p, 3)
    fu, fv = _int_columns(friends_p, 2)
    tu, ta, tt, tday, tmonth, tyear = _int_columns(tagged_p, 6)
    artist_meta = _named(artists_p, "utf-8")
    tag_names = _named(tags_p, "latin-1")
    rng = np.random.default_rng(seed)
    draw = random.Random(seed)  # scalar draws in loops (numpy's are slow one at a time)

    # Listeners: account ids 1..U in ascending user id.
    user_ids = np.unique(np.concatenate([lu, fu, fv, tu]))
    acc_of_user = {int(u): i + 1 for i, u in enumerate(user_ids.tolist())}
    n_users = len(user_ids)

    # Top artists by listeners, then plays, then id; account ids U+1..U+N.
    listeners = Counter(la.tolist())
    plays: Counter[int] = Counter()
    for a, w in zip(la.tolist(), lw.tolist(), strict=True):
        plays[a] += w
    ranked = sorted(listeners, key=lambda a: (-listeners[a], -plays[a], a))[:top_artists]
    acc_of_artist = {a: n_users + 1 + i for i, a in enumerate(ranked)}
    n_acc = n_users + len(ranked)

    # Time: real dates (Madrid midnights), shifted so that the data ends an hour before the anchor.
    keep = tyear >= FIRST_PLAUSIBLE_YEAR
    tu, ta, tt = tu[keep], ta[keep], tt[keep]
    tday_s = _madrid_midnights(tday[keep], tmonth[keep], tyear[keep])
    anchor_s = int((anchor or dt.datetime.now(dt.UTC)).timestamp())
    end_s = anchor_s - HOUR
    shift = end_s - (int(tday_s.max()) + DAY)
    tday_s = tday_s + shift
    month_key = tyear[keep] * 100 + tmonth[keep]

    usernames = [f"listener_{u}" for u in user_ids.tolist()]
    taken = {u.lower() for u in usernames} | {DEMO_USERNAME}
    artist_names = [(artist_meta.get(a, [""])[0].strip() or f"Artist {a}") for a in ranked]
    usernames += [_unique(username_from_name(name) or f"artist_{a}", taken)
                  for a, name in zip(ranked, artist_names, strict=True)]
    username_of_acc = {i + 1: name for i, name in enumerate(usernames)}
    account_of_key = {name.lower(): i + 1 for i, name in enumerate(usernames)}

    first_tag = np.full(n_users + 1, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first_tag, np.array([acc_of_user[u] for u in tu.tolist()], np.int64), tday_s)
    first_tag[first_tag == np.iinfo(np.int64).max] = int(tday_s.min())
    created_s = np.zeros(n_acc + 1, np.int64)
    created_s[1:n_users + 1] = first_tag[1:] - rng.integers(DAY, 30 * DAY, n_users)

    # ---- posts ----------------------------------------------------------------------------------
    post_author: list[int] = []
    post_ts: list[int] = []
    post_text: list[str] = []
    groups: dict[tuple[int, int], dict] = {}  # (artist, month) -> first day, tags
    sessions: dict[tuple[int, int], dict] = {}  # (user, day) -> artists, tags
    for u, a, t, day, month in zip(tu.tolist(), ta.tolist(), tt.tolist(), tday_s.tolist(), month_key.tolist(),
                                   strict=True):
        if a in acc_of_artist:
            g = groups.get((a, month))
            if g is None:
                g = groups[(a, month)] = {"day": day, "tags": Counter()}
            g["day"] = min(g["day"], day)
            g["tags"][t] += 1
        s = sessions.get((u, day))
        if s is None:
            s = sessions[(u, day)] = {"artists": Counter(), "tags": Counter()}
        s["artists"][a] += 1
        s["tags"][t] += 1
    post_of_group: dict[tuple[int, int], int] = {}
    for (a, month), g in sorted(groups.items(), key=lambda kv: (kv[1]["day"], kv[0])):
        post_of_group[(a, month)] = len(post_author)
        tags = " ".join(f"#{t}" for t in _top_tags(g["tags"], tag_names))
        template = draw.choice(ARTIST_TEMPLATES) if tags else "New from {name}"
        post_author.append(acc_of_artist[a])
        post_ts.append(g["day"] + draw.randrange(9 * HOUR, 21 * HOUR))
        post_text.append(template.format(name=artist_names[acc_of_artist[a] - n_users - 1], tags=tags).strip())
    for (u, day), s in sorted(sessions.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        top = sorted(s["artists"].items(), key=lambda kv: (-kv[1], kv[0]))
        refs = [f"@{username_of_acc[acc_of_artist[a]]}" if a in acc_of_artist
                else (artist_meta.get(a, [""])[0].strip() or f"artist {a}") for a, _ in top[:3]]
        if len(top) > 3:
            refs.append(f"{len(top) - 3} more")
        listing = refs[0] if len(refs) == 1 else ", ".join(refs[:-1]) + " and " + refs[-1]
        tags = " ".join(f"#{t}" for t in _top_tags(s["tags"], tag_names))
        post_author.append(acc_of_user[u])
        post_ts.append(day + draw.randrange(10 * HOUR, 23 * HOUR))
        post_text.append(f"Listening to {listing} {tags}".strip()[:500])
    p_author = np.array(post_author, np.int64)
    p_ts = np.array(post_ts, np.int64)

    posts_of_artist: dict[int, list[int]] = defaultdict(list)  # account -> post indices in time order
    for i in np.argsort(p_ts, kind="stable").tolist():
        if post_author[i] > n_users:
            posts_of_artist[post_author[i]].append(i)
    for acc, idx in posts_of_artist.items():
        created_s[acc] = post_ts[idx[0]] - draw.randrange(3 * DAY, 30 * DAY)
    no_posts = [acc for acc in range(n_users + 1, n_acc + 1) if acc not in posts_of_artist]
    created_s[no_posts] = int(tday_s.min()) - 30 * DAY
    created = created_s.tolist()
    times_of_artist = {acc: [post_ts[p] for p in idx] for acc, idx in posts_of_artist.items()}

    # ---- likes ----------------------------------------------------------------------------------
    likes: dict[tuple[int, int], int] = {}  # (account, post index) -> ts
    for u, a, day, month in zip(tu.tolist(), ta.tolist(), tday_s.tolist(), month_key.tolist(), strict=True):
        if a not in acc_of_artist:
            continue
        post = post_of_group[(a, month)]
        ts = max(day + draw.randrange(8 * HOUR, 24 * HOUR), post_ts[post] + draw.randrange(60, 3 * HOUR))
        ts = max(min(ts, end_s - 1), post_ts[post] + 60)
        key = (acc_of_user[u], post)
        likes[key] = min(likes.get(key, ts), ts)
    for u, a, w in zip(lu.tolist(), la.tolist(), lw.tolist(), strict=True):
        acc = acc_of_artist.get(a)
        if acc is None:
            continue
        uacc = acc_of_user[u]
        mine = posts_of_artist.get(acc, [])
        after = bisect.bisect_right(times_of_artist[acc], created[uacc]) if mine else 0
        eligible = [p for p in mine[after:] if (uacc, p) not in likes]
        k = min(len(eligible), len(str(max(w, 1))))  # 1 + floor(log10 w)
        if k:
            for p in draw.sample(eligible, k):
                ts = post_ts[p] + int(draw.expovariate(1 / (12 * HOUR)))
                likes[(uacc, p)] = max(post_ts[p] + 60, min(ts, end_s - 1))
    like_items = sorted(likes.items())
    like_account = np.array([k[0] for k, _ in like_items], np.int64)
    like_post = np.array([k[1] for k, _ in like_items], np.int64)
    like_ts = np.array([t for _, t in like_items], np.int64)

    # ---- follows --------------------------------------------------------------------------------
    follows: dict[tuple[int, int], int] = {}
    pairs = {(min(a, b), max(a, b)) for a, b in zip(fu.tolist(), fv.tolist(), strict=True) if a != b}
    directed = set(zip(fu.tolist(), fv.tolist(), strict=True))
    for a, b in sorted(pairs):
        x, y = acc_of_user[a], acc_of_user[b]
        lo = max(created[x], created[y]) + HOUR
        first = min(lo + int(draw.random() * max(end_s - lo, 1)), end_s - 1)
        second = min(first + int(draw.expovariate(1 / DAY)), end_s - 1)
        if draw.random() < 0.5:
            a, b, x, y = b, a, y, x
        if (a, b) in directed:
            follows[(x, y)] = first
        if (b, a) in directed:
            follows[(y, x)] = max(second, first)
    first_like: dict[tuple[int, int], int] = {}
    for (uacc, p), ts in likes.items():
        key = (uacc, post_author[p])
        first_like[key] = min(first_like.get(key, ts), ts)
    for u, a in sorted(zip(lu.tolist(), la.tolist(), strict=True)):
        acc = acc_of_artist.get(a)
        if acc is None:
            continue
        uacc = acc_of_user[u]
        lo = max(created[uacc], created[acc]) + 60
        if (uacc, acc) in first_like:
            ts = max(lo, first_like[(uacc, acc)] - draw.randrange(HOUR, 48 * HOUR))
        else:
            ts = lo + int(draw.random() * max(end_s - lo, 1))
        follows[(uacc, acc)] = min(ts, end_s - 1)
    follow_items = sorted(follows.items())

    # ---- tags and mentions, read back from the text as create_post would -----------------------
    tag_post, tag_name, mention_post, mention_account = [], [], [], []
    for i, text in enumerate(post_text):
        for tag in dict.fromkeys(t.lower() for t in TAG_RE.findall(text)):
            tag_post.append(i)
            tag_name.append(tag)
        for m in dict.fromkeys(m.group(1).lower() for m in MENTION_RE.finditer(text) if m.group(2) is None):
            acc = account_of_key.get(m)
            if acc is not None and acc != post_author[i]:
                mention_post.append(i)
                mention_account.append(acc)

    # ---- bios and the demo log-in ---------------------------------------------------------------
    top_played: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for u, a, w in zip(lu.tolist(), la.tolist(), lw.tolist(), strict=True):
        top_played[u].append((w, a))
    notes = []
    for u in user_ids.tolist():
        names = [artist_meta.get(a, [""])[0].strip() for _, a in sorted(top_played[u], key=lambda x: (-x[0], x[1]))[:3]]
        listens = f" Listens to {', '.join(n for n in names if n)}." if any(names) else ""
        notes.append(f"Last.fm listener {u} (HetRec 2011 dataset).{listens}"[:500])
    for a, name in zip(ranked, artist_names, strict=True):
        url = artist_meta.get(a, ["", ""])[1].strip() if len(artist_meta.get(a, [])) > 1 else ""
        notes.append(f"{name} on Hearth: an artist account built from Last.fm listening data (HetRec 2011). "
                     f"{url}".strip()[:500])
    display = [f"Last.fm listener {u}" for u in user_ids.tolist()] + [n[:100] for n in artist_names]

    friend_count = Counter(y for (_, y) in follows if y <= n_users)
    popular_listeners = sorted(friend_count, key=lambda acc: (-friend_count[acc], acc))[:8]
    demo_created = end_s + 60
    demo_targets = [acc_of_artist[a] for a in ranked[:12]] + popular_listeners
    demo_follows = [(acc, (demo_created + 120 + 37 * i) * US) for i, acc in enumerate(demo_targets)]
    demo_likes = [(posts_of_artist[acc][-1], (demo_created + 1200 + 53 * i) * US)
                  for i, acc in enumerate(demo_targets[:6]) if posts_of_artist.get(acc)]

    return Community(
        source="lastfm-2k", usernames=usernames, display_names=display, notes=notes,
        account_created=created_s[1:] * US, bots=np.zeros(n_acc, bool),
        follow_src=np.array([k[0] for k, _ in follow_items], np.int64),
        follow_dst=np.array([k[1] for k, _ in follow_items], np.int64),
        follow_ts=np.array([t for _, t in follow_items], np.int64) * US,
        post_author=p_author, post_ts=p_ts * US, post_text=post_text,
        tag_post=np.array(tag_post, np.int64), tag_name=tag_name,
        mention_post=np.array(mention_post, np.int64), mention_account=np.array(mention_account, np.int64),
        like_account=like_account, like_post=like_post, like_ts=like_ts * US,
        demo_display_name="Demo listener",
        demo_note="The demo log-in of this Hearth instance: follows a few popular artists and listeners.",
        demo_created=demo_created * US, demo_follows=demo_follows, demo_likes=demo_likes, banner=BANNER)
