"""Downloads a dataset's files (t2i_tf.data.sources) into the data folder, checked.

Each file arrives as NAME.part beside its target, is checked against its checksums, and only
then takes its place (renamed, gzipped or unzipped into it; written under a temporary name
and renamed, so a target is whole or absent). A .part left by an interrupted download is
resumed with an HTTP Range request where the host supports it, and fetched anew otherwise.
A file that fails its check is deleted. A target already present and passing its check is
not fetched again. Every failure is a DataError with a one-line message.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib

from t2i_tf.errors import DataError

CHUNK = 1 << 20
TIMEOUT_S = 60


def download(dataset, data_dir, base_url=None, log=print):
    """Fetches `dataset` (a sources.Dataset) into data_dir/dataset.folder.

    Args:
      base_url: where the files are (NAME is appended); default the dataset's own host.
      log: called with one line per file.

    Returns:
      The dataset's folder.

    Raises:
      DataError: no network, an HTTP error, a truncated or corrupt file.
    """
    folder = os.path.join(data_dir, dataset.folder)
    os.makedirs(folder, exist_ok=True)
    base = base_url or dataset.base_url
    base = base if base.endswith("/") else base + "/"
    for remote in dataset.files:
        shown = os.path.join(dataset.folder, remote.target or remote.name)
        if _present(folder, remote):
            log(f"{shown}: present, checked")
            continue
        url = base + remote.name
        part = os.path.join(folder, remote.name + ".part")
        again = " again (the copy there fails its check)" if remote.target and os.path.exists(
            os.path.join(folder, remote.target)) else ""
        log(f"{shown}: downloading {url}{again}")
        _fetch(url, part)
        problem = check(part, remote)
        if problem:
            os.remove(part)
            raise DataError(f"{url}: {problem}; nothing kept")
        _store(part, folder, remote)
        log(f"{shown}: done ({'sha256' if remote.sha256 or remote.content_sha256 else 'size'}"
            " checked)")
    return folder


def check(path, remote):
    """None if the file at `path` is `remote` (by its sha256 or its content's), else why not."""
    size, digest = _digest(path, decompress=False)
    if remote.sha256 and digest == remote.sha256:
        return None
    if remote.content_sha256:
        try:
            _, content = _digest(path, decompress=True)
        except EOFError:
            return f"truncated ({size:,} bytes; its gzip stream ends early)"
        except (OSError, zlib.error):
            content = None  # a damaged gzip stream: reported below
        if content == remote.content_sha256:
            return None
    if not remote.sha256 and not remote.content_sha256:
        if remote.size is None or size == remote.size:
            return None
        return f"size {size:,} bytes, expected {remote.size:,}"
    if remote.size and size < remote.size and not _is_gzip(path):
        return f"truncated ({size:,} of {remote.size:,} bytes)"
    expected = remote.sha256 or remote.content_sha256
    return f"checksum mismatch (sha256 {digest[:16]}..., expected {expected[:16]}...)"


def _is_gzip(path):
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _digest(path, decompress):
    """(bytes read, sha256 hex) of a file, or of its gzip content with `decompress` (a file
    that is not gzip is its own content)."""
    opener = gzip.open if decompress and _is_gzip(path) else open
    h, size = hashlib.sha256(), 0
    with opener(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _present(folder, remote):
    """Whether remote's target (or, for an archive, each extracted member) is in place."""
    if remote.store == "unzip":
        return all(_is_json_object(os.path.join(folder, dest)) for _, dest in remote.members)
    target = os.path.join(folder, remote.target)
    return os.path.isfile(target) and check(target, remote) is None


def _is_json_object(path):
    try:
        with open(path, "rb") as f:
            return isinstance(json.load(f), dict)
    except (OSError, ValueError):
        return False


def _fetch(url, part):
    """Downloads url into `part`, resuming a partial one where the server allows it."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=TIMEOUT_S) as response:
            resumed = offset > 0 and response.status == 206  # file:// has no status: anew
            length = response.headers.get("Content-Length")
            expected = int(length) + (offset if resumed else 0) if length else None
            with open(part, "ab" if resumed else "wb") as f:
                shutil.copyfileobj(response, f, CHUNK)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to fetch: the .part is whole
            return
        raise DataError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DataError(f"cannot download {url}: {e.reason} (no network? --base_url "
                        "fetches from a mirror)") from None
    except (OSError, http.client.HTTPException) as e:
        raise DataError(f"download of {url} broke off ({type(e).__name__}: {e}); "
                        "run again to resume") from None
    got = os.path.getsize(part)
    if expected is not None and got < expected:
        raise DataError(f"download of {url} broke off after {got:,} of {expected:,} bytes; "
                        "run again to resume")


def _store(part, folder, remote):
    """Puts a checked .part in its place and removes it."""
    if remote.store == "copy":
        os.replace(part, os.path.join(folder, remote.target))
        return
    if remote.store == "gzip":
        with open(part, "rb") as src:
            _write_atomic(os.path.join(folder, remote.target), lambda dst: _gzip(src, dst))
    elif remote.store == "unzip":
        try:
            with zipfile.ZipFile(part) as archive:
                names = set(archive.namelist())
                for member, dest in remote.members:
                    if member not in names:
                        raise DataError(f"{remote.name} holds no {member}")
                    with archive.open(member) as src:
                        _write_atomic(os.path.join(folder, dest),
                                      lambda dst: shutil.copyfileobj(src, dst, CHUNK))
        except zipfile.BadZipFile as e:
            os.remove(part)
            raise DataError(f"{remote.name} is not a readable zip archive ({e})") from None
    else:
        raise ValueError(f"unknown store {remote.store!r}")
    os.remove(part)


def _gzip(src, dst):
    # Level 6: a tenth of level 9's time on the .amat text, for a file a fifth larger.
    with gzip.GzipFile(fileobj=dst, mode="wb", mtime=0, filename="", compresslevel=6) as z:
        shutil.copyfileobj(src, z, CHUNK)


def _write_atomic(path, write):
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise
