"""Where dataset files live, whether they are intact, and how to fetch them.

Loaders never open a dataset file by hand: they ask `locate` for it, which checks that it is
there (else a `DataError` that says which file to put where and where to get it) and that its
checksum is the published one. `fetch` downloads to a temporary file in the dataset folder,
extracts and verifies, then renames into place, so an interrupted download never leaves a
half-written file under a real name.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from tqdm import tqdm

from hearth.data.errors import DataError

DATA_DIR_ENV = "HEARTH_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.local/share/hearth/data")
CHUNK = 1 << 20  # hash and copy in 1 MiB pieces


@dataclass(frozen=True)
class KnownFile:
    """A file a loader may read: where it comes from and its published checksum.

    `git_blob` is for files whose only published fingerprint is a git blob id (ml-1m's
    original ratings.dat). A file with neither checksum is read unverified.
    """

    name: str
    url: str | None  # None: a prepared file with no public download
    sha256: str | None = None
    git_blob: str | None = None


@dataclass(frozen=True)
class Download:
    """One URL and the files it yields in the dataset folder.

    archive "zip": members are matched by base name (folders inside the zip are ignored);
    "gz": the single file, decompressed; "file": the single file as is.
    """

    url: str
    archive: Literal["zip", "gz", "file"]
    files: tuple[str, ...]


def resolve_data_dir(explicit: Path | None = None) -> Path:
    """The data folder: `explicit` if given, else $HEARTH_DATA_DIR, else ~/.local/share/hearth/data."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return DEFAULT_DATA_DIR.expanduser()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def git_blob_id(path: Path) -> str:
    """The id `git hash-object` gives the file: sha1 of "blob <size>\\0" + content."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# Files already verified in this process, keyed so that any change to the file re-verifies it.
_verified: set[tuple[str, int, int, int, str]] = set()


def _memo_key(path: Path, expected: str) -> tuple[str, int, int, int, str]:
    st = path.stat()
    return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, expected)


def _mismatch(path: Path, kind: str, expected: str) -> str | None:
    """None if the file matches, else "expected <kind> X, actual Y" (memoised per file version)."""
    key = _memo_key(path, f"{kind}:{expected}")
    if key in _verified:
        return None
    actual = sha256_file(path) if kind == "sha256" else git_blob_id(path)
    if actual != expected.lower():
        return f"expected {kind} {expected}, actual {actual}"
    _verified.add(key)
    return None


def verify_file(path: Path, sha256: str, *, hint: str = "") -> None:
    """Raise DataError unless the file's sha256 is `sha256`; the message names file, expected, actual."""
    if problem := _mismatch(path, "sha256", sha256):
        raise DataError(f"{path}: checksum mismatch: {problem}. "
                        f"The file is corrupt, truncated or a different version.{hint}")


def verify_git_blob(path: Path, blob: str, *, hint: str = "") -> None:
    """Raise DataError unless `git hash-object path` would print `blob`."""
    if problem := _mismatch(path, "git blob id", blob):
        raise DataError(f"{path}: checksum mismatch: {problem}. "
                        f"The file is corrupt, truncated or a different version.{hint}")


def check_known(path: Path, known: KnownFile | None) -> str | None:
    """None if `path` matches the checksum `known` publishes (or it publishes none), else the mismatch."""
    if known is None:
        return None
    if known.sha256:
        return _mismatch(path, "sha256", known.sha256)
    if known.git_blob:
        return _mismatch(path, "git blob id", known.git_blob)
    return None


def verify_known(path: Path, known: KnownFile | None, *, hint: str = "") -> None:
    """Raise DataError unless `path` matches whichever checksum `known` publishes."""
    if problem := check_known(path, known):
        raise DataError(f"{path}: checksum mismatch: {problem}. "
                        f"The file is corrupt, truncated or a different version.{hint}")


def _fix_hint(dataset: str, known: KnownFile | None) -> str:
    where = f" or get it again from {known.url}" if known and known.url else ""
    return (f" Delete it and run `hearth data download {dataset}`{where}"
            " (or load with verify=False at your own risk).")


def locate(
    folder: Path,
    dataset: str,
    wants: Sequence[tuple[str, Sequence[str]]],
    known: Mapping[str, KnownFile],
    *,
    verify: bool = True,
) -> list[Path]:
    """Find one file for each want `(label, candidate names in order of preference)` in `folder`.

    Every file found is checked against its published checksum (unless verify=False). All
    missing wants are reported together, each with the file to put there and its URL.
    """
    found: list[Path] = []
    missing: list[tuple[str, Sequence[str]]] = []
    for label, candidates in wants:
        path = next((folder / c for c in candidates if (folder / c).is_file()), None)
        if path is None:
            missing.append((label, candidates))
        else:
            found.append(path)
    if missing:
        raise DataError(missing_message(folder, dataset, missing, known))
    if verify:
        for path in found:
            verify_known(path, known.get(path.name), hint=_fix_hint(dataset, known.get(path.name)))
    return found


def missing_message(
    folder: Path, dataset: str, missing: Sequence[tuple[str, Sequence[str]]], known: Mapping[str, KnownFile]
) -> str:
    """'<dataset>: no <what> in <folder>. Put <file> (from <url>) there, or run `hearth data download`'."""
    by_url: dict[str, list[str]] = {}
    for _, candidates in missing:
        first = candidates[0]
        url = (known[first].url if first in known else None) or "the dataset's publisher"
        by_url.setdefault(url, []).append(first)
    what = _listing([label for label, _ in missing], "or")
    put = "; ".join(f"{_listing(names, 'and')} (from {url})" for url, names in by_url.items())
    alternatives = [c for _, candidates in missing for c in candidates[1:]]
    gone = "" if folder.is_dir() else " (the folder does not exist)"
    msg = f"{dataset}: no {what} in {folder}{gone}. Put {put} there"
    if alternatives:
        msg += f" (or instead: {', '.join(alternatives)})"
    return msg + f", or run `hearth data download {dataset}`."


def _listing(words: Sequence[str], conjunction: str) -> str:
    """"a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def rebase_url(url: str, base_url: str | None) -> str:
    """`url` with everything before its file name replaced by `base_url` (a mirror, or a test server)."""
    if not base_url:
        return url
    return base_url.rstrip("/") + "/" + url.rsplit("/", 1)[1]


def _download_to(url: str, dest: Path, *, progress: bool, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "hearth-data/0.1"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        total = response.headers.get("Content-Length")
        with tqdm(total=int(total) if total else None, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=url.rsplit("/", 1)[1], disable=not progress, leave=False) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def _zip_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    for info in archive.infolist():
        parts = info.filename.split("/")
        if not info.is_dir() and parts[-1] == name and "__MACOSX" not in parts:
            return info
    return None


def fetch(
    download: Download,
    folder: Path,
    dataset: str,
    known: Mapping[str, KnownFile],
    *,
    base_url: str | None = None,
    progress: bool = True,
    verify: bool = True,
    timeout: float = 60.0,
) -> list[Path]:
    """Download `download.url` (rebased on `base_url`), extract its files into `folder`, verify each.

    Each file is written to a hidden temporary name in `folder`, verified, then renamed into
    place; on any failure nothing is left behind and a DataError says what to do by hand.
    """
    url = rebase_url(download.url, base_url)
    manual = (f"Download {url} yourself and put {', '.join(download.files)} in {folder}"
              + (" (extracted)" if download.archive != "file" else "") + ".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    staged: list[tuple[Path, Path]] = []  # (temporary file, final path)
    try:
        try:
            _download_to(url, tmp, progress=progress, timeout=timeout)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            raise DataError(f"{dataset}: could not download {url}: {e}. {manual}") from e
        try:
            if download.archive == "file":
                staged.append((tmp, folder / download.files[0]))
            elif download.archive == "gz":
                staged.append((_stage_copy(gzip.open(tmp, "rb"), folder, download.files[0]),
                               folder / download.files[0]))
            else:
                with zipfile.ZipFile(tmp) as archive:
                    for name in download.files:
                        info = _zip_member(archive, name)
                        if info is None:
                            raise DataError(f"{dataset}: {url} has no {name} inside. {manual}")
                        staged.append((_stage_copy(archive.open(info), folder, name), folder / name))
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
            raise DataError(f"{dataset}: {url} is not a valid {download.archive} file ({e}). {manual}") from e
        for part, final in staged:
            if verify and (problem := check_known(part, known.get(final.name))):
                raise DataError(f"{dataset}: {final.name} downloaded from {url} has the wrong checksum "
                                f"({problem}); nothing was saved. {manual}")
        for part, final in staged:
            os.chmod(part, 0o644)  # mkstemp makes files private; data files are ordinary files
            os.replace(part, final)
        return [final for _, final in staged]
    finally:
        for part, _ in staged:
            part.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def _stage_copy(source: IO[bytes], folder: Path, name: str) -> Path:
    """Copy `source` to a hidden temporary file in `folder` (removed again if the copy fails)."""
    fd, part = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".part")
    try:
        with source, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return Path(part)
