"""Dataset loaders: published counts, ordering, metadata, checksums, clear errors, downloads.

Real-data tests use the `data_dir` fixture (tests/conftest.py); downloads are served from a
local http.server on 127.0.0.1 started inside the test, never from the internet.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hearth.data import (
    DATASETS,
    DataError,
    default_protocols,
    download_dataset,
    load_dataset,
    load_generic,
    resolve_data_dir,
)
from hearth.data.files import Download, KnownFile, fetch
from hearth.events import ACCOUNT, ITEM, VERB_INDEX, EventLog

RATE, LISTEN, FOLLOW, TAG, LIKE = (VERB_INDEX[v] for v in ("rate", "listen", "follow", "tag", "like"))


def pairs(log: EventLog, mask: np.ndarray) -> list[tuple[str, str]]:
    """(raw user, raw target) of the masked rows, in log order."""
    target, kind = log.target[mask].tolist(), log.kind[mask].tolist()
    items, users = log.item_ids.tolist(), log.user_ids.tolist()
    ids = [items[t] if k == ITEM else users[t] for t, k in zip(target, kind, strict=True)]
    return list(zip(log.user_ids[log.user[mask]].tolist(), ids, strict=True))


# ---------------------------------------------------------------- real datasets, loaded once


@pytest.fixture(scope="module")
def ml1m(data_dir: Path) -> EventLog:
    return load_dataset("ml-1m", data_dir, progress=False)


@pytest.fixture(scope="module")
def lastfm(data_dir: Path) -> EventLog:
    return load_dataset("lastfm-2k", data_dir, progress=False)


@pytest.fixture(scope="module")
def ciao(data_dir: Path) -> EventLog:
    return load_dataset("ciao", data_dir, progress=False)


def test_ml1m_counts_meta_and_protocol(ml1m: EventLog) -> None:
    assert (len(ml1m), ml1m.n_users, ml1m.n_items) == (1_000_209, 6_040, 3_706)
    assert ml1m.name == "ml-1m"
    assert ml1m.sources == ["ratings_no_timestamps_by_time.dat.gz", "movies.dat"]
    assert (ml1m.verb == RATE).all() and (ml1m.kind == ITEM).all() and ml1m.ordered.all()
    assert np.isnan(ml1m.ts).all()
    assert np.bincount(ml1m.value.astype(int)).tolist() == [0, 56_174, 107_557, 261_197, 348_971, 226_310]
    meta = ml1m.item_meta
    assert len(meta["title"]) == len(meta["genres"]) == ml1m.n_items
    assert ml1m.item_ids[0] == "1" and meta["title"][0] == "Toy Story (1995)"
    assert meta["genres"][0] == ["Animation", "Children's", "Comedy"]
    assert meta["title"][ml1m.item_ids.tolist().index("73")] == "Misérables, Les (1995)"  # latin-1
    assert default_protocols("ml-1m") == {"items": "sequential-loo"}


def test_ml1m_keeps_the_files_time_order(ml1m: EventLog, data_dir: Path) -> None:
    lines = gzip.decompress((data_dir / "ml-1m" / "ratings_no_timestamps_by_time.dat.gz").read_bytes())
    rows = [ln.split("::")[:2] for ln in lines.decode().splitlines()]
    user1 = [item for user, item in rows[:60] if user == "1"]
    bounds = ml1m.user_bounds()
    first = ml1m.user_ids.tolist().index("1")
    assert ml1m.item_ids[ml1m.target[bounds[first]:bounds[first + 1]]].tolist() == user1
    assert user1[:3] == ["3186", "1270", "1721"]
    # The file is grouped by user in ascending order, so the whole log must equal it row for row.
    assert pairs(ml1m, slice(None)) == [tuple(r) for r in rows]


def test_ml1m_prefers_original_ratings_dat_and_sorts_stably_by_time(tmp_path: Path, data_dir: Path) -> None:
    partial = gzip.decompress((data_dir / "ml-1m" / "ratings_partial_users1-2999.dat.gz").read_bytes())
    lines = [ln for ln in partial.decode().splitlines() if ln.split("::")[0] in {"1", "2", "3"}]
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("\n".join(lines) + "\n")
    shutil.copy(data_dir / "ml-1m" / "movies.dat", folder)
    # Not the published ratings.dat: the git blob check refuses it ...
    with pytest.raises(DataError, match=r"ratings\.dat.*expected git blob id 77a7c4b1"):
        load_dataset("ml-1m", tmp_path, progress=False)
    # ... and without verification it is read with its timestamps.
    log = load_dataset("ml-1m", tmp_path, progress=False, verify=False)
    assert log.sources == ["ratings.dat", "movies.dat"] and len(log) == len(lines)
    fields = [ln.split("::") for ln in lines]
    for u in ("1", "2", "3"):
        mine = [(int(f[3]), i, f[1]) for i, f in enumerate(fields) if f[0] == u]
        expected = [item for _, _, item in sorted(mine)]  # by time, then file position
        rows = log.user == log.user_ids.tolist().index(u)
        assert log.item_ids[log.target[rows]].tolist() == expected
        assert (np.diff(log.ts[rows]) >= 0).all()
    # The prepared by-time file was built as exactly this stable sort.
    by_time = gzip.decompress((data_dir / "ml-1m" / "ratings_no_timestamps_by_time.dat.gz").read_bytes())
    want = [tuple(ln.split("::")[:2]) for ln in by_time.decode().splitlines()[:len(lines)]]
    assert pairs(log, slice(None)) == want


def test_ml1m_sasrec(data_dir: Path) -> None:
    log = load_dataset("ml-1m-sasrec", data_dir, progress=False)
    assert (len(log), log.n_users, log.n_items) == (999_611, 6_040, 3_416)
    assert log.name == "ml-1m-sasrec" and log.sources[0] == "sasrec_ml-1m.txt.gz"
    assert (log.verb == RATE).all() and log.ordered.all()
    text = gzip.decompress((data_dir / "ml-1m" / "sasrec_ml-1m.txt.gz").read_bytes()).decode()
    head = [tuple(ln.split()) for ln in text.splitlines()[:5]]
    assert pairs(log, slice(0, 5)) == head  # user 1's first items, in file order
    assert log.item_meta["movie_id"][0] == "1198"  # via sas_to_original_items.txt
    assert log.item_meta["title"][0] == "Raiders of the Lost Ark (1981)"
    assert default_protocols("ml-1m-sasrec") == {"items": "sequential-loo"}


def test_lastfm(lastfm: EventLog) -> None:
    listen, follow = lastfm.verb == LISTEN, lastfm.verb == FOLLOW
    assert (int(listen.sum()), int(follow.sum()), len(lastfm)) == (92_834, 25_434, 118_268)
    assert (lastfm.n_users, lastfm.n_items) == (1_892, 17_632)
    assert (lastfm.kind[listen] == ITEM).all() and (lastfm.kind[follow] == ACCOUNT).all()
    assert not lastfm.ordered.any() and lastfm.symmetric_follows
    assert lastfm.sources == ["user_artists.dat", "user_friends.dat", "artists.dat"]
    first = pairs(lastfm, listen)[0]
    assert first == ("2", "51") and lastfm.value[listen][0] == 13_883  # weight = play count
    edges = set(pairs(lastfm, follow))
    assert edges == {(b, a) for a, b in edges}
    names = dict(zip(lastfm.item_meta["artist_id"], lastfm.item_meta["name"], strict=True))
    assert names["1"] == "MALICE MIZER" and names["1098"] == "Björk"  # UTF-8
    assert default_protocols("lastfm-2k") == {"items": "random-80-10-10", "people": "people-holdout"}


def test_lastfm_tags_only_on_request(data_dir: Path) -> None:
    log = load_dataset("lastfm-2k", data_dir, progress=False, tags=True)
    tag = log.verb == TAG
    assert int(tag.sum()) == 186_479 and int((log.verb == LISTEN).sum()) == 92_834
    assert log.sources[-1] == "user_taggedartists.dat" and log.n_items == 18_022
    assert log.ordered[tag].all() and not np.isnan(log.ts[tag]).any()
    # user 2 tagged artist 52 on 1 April 2009: local midnight in Madrid, as in the dataset's own timestamps.
    assert log.ts[tag][0] == 1_238_536_800


def test_ego_facebook(data_dir: Path) -> None:
    log = load_dataset("ego-facebook", data_dir, progress=False)
    assert (len(log), log.n_users, log.n_items) == (176_468, 4_039, 0)
    assert (log.verb == FOLLOW).all() and (log.kind == ACCOUNT).all()
    assert not log.ordered.any() and log.symmetric_follows and log.sources == ["facebook_combined.txt"]
    edges = set(pairs(log, slice(None)))
    assert len(edges) == 176_468 and edges == {(b, a) for a, b in edges}
    assert default_protocols("ego-facebook") == {"people": "people-holdout"}


def test_ciao(ciao: EventLog) -> None:
    rate, follow = ciao.verb == RATE, ciao.verb == FOLLOW
    assert ciao.n_users == 7_375 and ciao.sources == ["ratings.tsv", "trust.tsv"]
    # 284,086 ratings - 34 zero-star ratings - 1,433 repeats of a (user, item) pair.
    assert int(rate.sum()) == 282_619 and ciao.n_items == 105_096
    assert (ciao.value[rate] >= 1).all()
    assert len(set(pairs(ciao, rate))) == 282_619
    assert ciao.ordered[rate].all() and not ciao.ordered[follow].any()
    bounds = ciao.user_bounds()
    for u in range(0, ciao.n_users, 97):  # each user's ratings in time order
        rows = slice(bounds[u], bounds[u + 1])
        r = ciao.verb[rows] == RATE
        assert (np.diff(ciao.ts[rows][r]) >= 0).all()
    trust = set(pairs(ciao, follow))
    assert len(trust) == 57_544 and not ciao.symmetric_follows
    assert sum((b, a) in trust for a, b in trust) == 27_708  # directed: not every trust is returned
    assert default_protocols("ciao") == {"items": "sequential-loo", "people": "people-holdout"}


# ---------------------------------------------------------------- checksums and clear errors


def test_checksum_mismatch_names_file_expected_and_actual(tmp_path: Path, data_dir: Path) -> None:
    folder = tmp_path / "ego-facebook"
    folder.mkdir()
    bad = folder / "facebook_combined.txt"
    data = bytearray((data_dir / "ego-facebook" / "facebook_combined.txt").read_bytes())
    assert data[:4] == b"0 1\n"
    data[2:3] = b"9"  # one edge changed: same shape, different bytes
    bad.write_bytes(bytes(data))
    actual = hashlib.sha256(data).hexdigest()
    with pytest.raises(DataError) as err:
        load_dataset("ego-facebook", tmp_path, progress=False)
    msg = str(err.value)
    assert str(bad) in msg and actual in msg
    assert "f41c026ed8af3cc3359f1ca5573d0605fb09ae0eefa34544b820fd8c6e2ef296" in msg
    assert len(load_dataset("ego-facebook", tmp_path, progress=False, verify=False)) == 176_468


def test_missing_files_say_which_file_where_and_from_where(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("ml-1m", tmp_path, progress=False)
    msg = str(err.value)
    assert "ratings.dat" in msg and str(tmp_path / "ml-1m") in msg
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in msg
    assert "hearth data download ml-1m" in msg
    folder = tmp_path / "lastfm-2k"
    folder.mkdir()
    (folder / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t51\t1\n")
    with pytest.raises(DataError) as err:
        load_dataset("lastfm-2k", tmp_path, progress=False)
    msg = str(err.value)
    assert "user_friends.dat" in msg and "artists.dat" in msg and str(folder) in msg
    assert "user_artists.dat" not in msg and "hetrec2011-lastfm-2k.zip" in msg
    with pytest.raises(DataError, match="neither a known dataset"):
        load_dataset("no-such-dataset", tmp_path)


def test_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HEARTH_DATA_DIR", raising=False)
    assert resolve_data_dir(None) == tmp_path / "home" / ".local" / "share" / "hearth" / "data"
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_every_dataset_has_protocols_files_and_downloads() -> None:
    for name, spec in DATASETS.items():
        assert set(spec.protocols) <= {"items", "people"}, name
        assert set(spec.protocols.values()) <= {"sequential-loo", "random-80-10-10", "people-holdout"}
        assert spec.downloads and all(f in spec.files for d in spec.downloads for f in d.files), name


# ---------------------------------------------------------------- generic files


def write(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())
    return path


@pytest.mark.parametrize(("header", "sep"), [
    ("user,item,timestamp\n", ","), ("user_id\titem_id\ttime\n", "\t"), ("", " "), ("u i when\n", " "),
])
def test_generic_separators_headers_and_stable_time_sort(tmp_path: Path, header: str, sep: str) -> None:
    rows = [("alice", "x", 30), ("bob", "y", 5), ("alice", "y", 10), ("alice", "z", 10), ("alice", "w", 1)]
    text = header + "".join(sep.join(map(str, r)) + "\n" for r in rows)
    log = load_generic(write(tmp_path / "clicks.csv", text), progress=False)
    assert log.name == "clicks" and log.sources == ["clicks.csv"] and (log.verb == LIKE).all()
    assert log.user_ids.tolist() == ["alice", "bob"]  # a header line would have become a user
    assert pairs(log, slice(None)) == [("alice", "w"), ("alice", "y"), ("alice", "z"), ("alice", "x"),
                                       ("bob", "y")]  # y before z: equal times keep file order
    assert log.ts.tolist() == [1, 10, 10, 30, 5] and log.ordered.all()


def test_generic_without_timestamps_keeps_file_order_and_reads_gz(tmp_path: Path) -> None:
    path = write(tmp_path / "seq.txt.gz", "# a comment\n1 30\n2 5\n\n1 10\n1 7\n")
    log = load_dataset(str(path), progress=False)
    assert log.name == "seq" and np.isnan(log.ts).all()
    assert pairs(log, slice(None)) == [("1", "30"), ("1", "10"), ("1", "7"), ("2", "5")]
    assert default_protocols(str(path)) == {"items": "sequential-loo"}


def test_generic_header_detection_rules(tmp_path: Path) -> None:
    # Word ids, no header: the first line is data.
    log = load_generic(write(tmp_path / "a.tsv", "alice\tbook\nbob\tpen\n"), progress=False)
    assert len(log) == 2
    # Unknown column names over numeric rows: a header.
    log = load_generic(write(tmp_path / "b.csv", "who,what\n1,2\n3,4\n"), progress=False)
    assert log.user_ids.tolist() == ["1", "3"]
    # 3 columns: a word timestamp over a numeric one marks a header even with word ids.
    log = load_generic(write(tmp_path / "c.txt", "person thing moment\nann hat 5\n"), progress=False)
    assert pairs(log, slice(None)) == [("ann", "hat")]


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("user item timestamp\n1 2 3\n1 2\n", 3, "expected 3 fields"),
    ("1,2\n1,2,3,4\n", 2, "expected 2 fields"),
    ("1 2 3 4\n", 1, "expected 2 or 3 fields"),
    ("\n1 2 100\n1 3 noon\n", 3, "timestamp 'noon' is not a number"),
    ("1,2,5\n1,,6\n", 2, "empty field"),
])
def test_generic_malformed_line_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError) as err:
        load_generic(path, progress=False)
    msg = str(err.value)
    assert f"{path}, line {line}:" in msg and fragment in msg
    assert repr(text.split("\n")[line - 1]) in msg  # the line itself


def test_generic_with_edges(tmp_path: Path) -> None:
    inter = write(tmp_path / "inter.txt", "a x 1\nb y 2\n")
    edges = write(tmp_path / "follows.txt", "src dst\na b\nc a\n")
    log = load_dataset(str(inter), progress=False, edges=edges)
    follow = log.verb == FOLLOW
    assert pairs(log, follow) == [("a", "b"), ("c", "a")] and not log.ordered[follow].any()
    assert (log.kind[follow] == ACCOUNT).all() and not log.symmetric_follows
    assert log.sources == ["inter.txt", "follows.txt"] and log.n_users == 3
    assert default_protocols(str(inter), with_edges=True) == {"items": "sequential-loo",
                                                              "people": "people-holdout"}
    with pytest.raises(DataError, match=r"follows\.txt, line 3: expected 2 fields"):
        load_generic(inter, write(tmp_path / "follows.txt", "a b\nb c\nc d e\n"), progress=False)


# ---------------------------------------------------------------- downloads (local server only)


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve `folder` on 127.0.0.1 for the duration of a test; yields (base URL, requested paths)."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            requested.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/some/mirror", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def test_fetch_extracts_verifies_and_leaves_nothing_half_done(tmp_path: Path) -> None:
    good = b"1 2\n3 4\n"
    make_zip(tmp_path / "www" / "some" / "mirror" / "pack.zip",
             {"pack/a.txt": good, "__MACOSX/pack/._a.txt": b"junk", "pack/other.txt": b"x"})
    download = Download("https://example.org/files/pack.zip", "zip", ("a.txt",))
    ok = {"a.txt": KnownFile("a.txt", download.url, sha256=hashlib.sha256(good).hexdigest())}
    bad = {"a.txt": KnownFile("a.txt", download.url, sha256="0" * 64)}
    folder = tmp_path / "data" / "pack"
    with serve(tmp_path / "www") as (base, requested):
        with pytest.raises(DataError) as err:
            fetch(download, folder, "pack", bad, base_url=base, progress=False)
        assert "wrong checksum" in str(err.value) and "nothing was saved" in str(err.value)
        assert list(folder.iterdir()) == []  # no partial or temporary files
        assert fetch(download, folder, "pack", ok, base_url=base, progress=False) == [folder / "a.txt"]
        missing = Download("https://example.org/files/gone.zip", "zip", ("a.txt",))
        with pytest.raises(DataError) as err:
            fetch(missing, folder, "pack", ok, base_url=base, progress=False)
    assert requested == ["/some/mirror/pack.zip"] * 2 + ["/some/mirror/gone.zip"]
    assert [p.name for p in folder.iterdir()] == ["a.txt"] and (folder / "a.txt").read_bytes() == good
    msg = str(err.value)
    assert f"{base}/gone.zip" in msg and "404" in msg and f"put a.txt in {folder}" in msg


def test_download_failure_without_network_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        download_dataset("ego-facebook", tmp_path, base_url="http://127.0.0.1:9", progress=False)
    msg = str(err.value)
    assert "could not download http://127.0.0.1:9/facebook_combined.txt.gz" in msg
    assert f"facebook_combined.txt in {tmp_path / 'ego-facebook'}" in msg


def test_download_ego_facebook_gz_then_load(tmp_path: Path, data_dir: Path) -> None:
    www = tmp_path / "www" / "some" / "mirror"
    www.mkdir(parents=True)
    raw = (data_dir / "ego-facebook" / "facebook_combined.txt").read_bytes()
    (www / "facebook_combined.txt.gz").write_bytes(gzip.compress(raw, compresslevel=1))
    with serve(tmp_path / "www") as (base, requested):
        folder = download_dataset("ego-facebook", tmp_path / "data", base_url=base, progress=False)
        download_dataset("ego-facebook", tmp_path / "data", base_url=base, progress=False)  # already there
    assert requested == ["/some/mirror/facebook_combined.txt.gz"]
    assert folder == tmp_path / "data" / "ego-facebook"
    assert len(load_dataset("ego-facebook", tmp_path / "data", progress=False)) == 176_468
    # The dataset's own folder is accepted as data_dir too.
    assert len(load_dataset("ego-facebook", folder, progress=False)) == 176_468


def test_download_sasrec_plain_file(tmp_path: Path, data_dir: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    packed = (data_dir / "ml-1m" / "sasrec_ml-1m.txt.gz").read_bytes()
    (www / "ml-1m.txt").write_bytes(gzip.decompress(packed))
    with serve(www) as (base, requested):
        folder = download_dataset("ml-1m-sasrec", tmp_path / "data", base_url=base.rsplit("/some", 1)[0],
                                  progress=False)
    assert requested == ["/ml-1m.txt"] and [p.name for p in folder.iterdir()] == ["ml-1m.txt"]
    assert folder == tmp_path / "data" / "ml-1m"  # shares ml-1m's folder


def test_download_ciao_zip_of_mat_files_loads_like_the_tsv(
    tmp_path: Path, data_dir: Path, ciao: EventLog
) -> None:
    src = data_dir / "ciao"
    make_zip(tmp_path / "www" / "ciao_with_rating_timestamp.zip", {
        "ciao/rating_with_timestamp.mat": (src / "rating_with_timestamp.mat").read_bytes(),
        "ciao/trust.mat": (src / "trust.mat").read_bytes(), "ciao/readme.txt": b"hi"})
    with serve(tmp_path / "www") as (base, _):
        download_dataset("ciao", tmp_path / "data", base_url=base.rsplit("/some", 1)[0], progress=False)
    assert sorted(p.name for p in (tmp_path / "data" / "ciao").iterdir()) == ["rating_with_timestamp.mat",
                                                                             "trust.mat"]
    log = load_dataset("ciao", tmp_path / "data", progress=False)
    assert log.sources == ["rating_with_timestamp.mat", "trust.mat"]
    for col in ("user", "verb", "kind", "target", "value", "ordered"):
        assert np.array_equal(getattr(log, col), getattr(ciao, col)), col
    assert np.array_equal(log.ts, ciao.ts, equal_nan=True)
    assert log.item_ids.tolist() == ciao.item_ids.tolist()
