"""t2i_tf.data.download / fetch: files served from file:// mirrors of the real data and from a
local HTTP server with Range support; checksums, atomic placement, resume, one-line errors."""

import dataclasses
import gzip
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest

from t2i_tf.data import fetch, locate, sources
from t2i_tf.data.mnist import load_binarized_mnist
from t2i_tf.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = locate.default_data_dir()
MNIST = sources.DATASETS["mnist"]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def download_binary(*args):
    """Runs the binary; returns (exit status, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "t2i_tf.data.download", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def error_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def one_file(name, data, **fields):
    """A one-file dataset whose table holds `data`'s size and sha256."""
    remote = sources.Remote(name, len(data), sha256(data), target=name, **fields)
    return sources.Dataset("http://unused.invalid/", "set", (remote,))


def quiet(line):
    del line


# ------------------------------------------------------------------ the binary, real files


def test_mnist_from_a_file_mirror_then_present(tmp_path):
    mirror = "file://" + os.path.join(DATA, "mnist")
    status, out, err = download_binary("--dataset=mnist", f"--data_dir={tmp_path}",
                                       f"--base_url={mirror}")
    assert status == 0, err
    names = sorted(r.target for r in MNIST.files)
    assert sorted(os.listdir(tmp_path / "mnist")) == names
    mtimes = {}
    for name in names:  # byte-identical copies, accepted by their content's sha256
        with open(os.path.join(DATA, "mnist", name), "rb") as f:
            assert (tmp_path / "mnist" / name).read_bytes() == f.read()
        mtimes[name] = os.stat(tmp_path / "mnist" / name).st_mtime_ns
    assert out.splitlines()[-1] == f"mnist is in {tmp_path / 'mnist'}"
    # Again, with an unreachable mirror: everything is present, nothing is fetched.
    status, out, err = download_binary("--dataset=mnist", f"--data_dir={tmp_path}",
                                       "--mirror=http://127.0.0.1:1/")
    assert status == 0, err
    assert out.count("present, checked") == 4
    assert {n: os.stat(tmp_path / "mnist" / n).st_mtime_ns for n in names} == mtimes


def _broken_mirror(tmp_path, damage):
    """A mirror of MNIST whose first file (train images) is damaged."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for remote in MNIST.files:
        source = os.path.join(DATA, "mnist", remote.name)
        os.symlink(source, mirror / remote.name)
    first = MNIST.files[0].name
    with open(os.path.join(DATA, "mnist", first), "rb") as f:
        data = f.read()
    os.remove(mirror / first)
    (mirror / first).write_bytes(damage(data))
    return mirror


@pytest.mark.parametrize("damage,fragment", [
    (lambda d: d[:len(d) // 2] + bytes([d[len(d) // 2] ^ 0xFF]) + d[len(d) // 2 + 1:],
     "checksum mismatch"),
    (lambda d: d[:len(d) // 3], "truncated"),
])
def test_a_damaged_file_is_one_line_and_is_not_kept(tmp_path, damage, fragment):
    mirror = _broken_mirror(tmp_path, damage)
    target = tmp_path / "data"
    status, out, err = download_binary("--dataset=mnist", f"--data_dir={target}",
                                       f"--base_url=file://{mirror}/")
    assert status == 1
    line = error_line(err)
    assert fragment in line and MNIST.files[0].name in line, line
    assert os.listdir(target / "mnist") == []  # not even the .part of a file that failed


def test_no_network_and_bad_flags_are_one_line(tmp_path):
    status, _, err = download_binary("--dataset=fashion_mnist", f"--data_dir={tmp_path}",
                                     "--base_url=http://127.0.0.1:1/")
    assert status == 1 and "cannot download http://127.0.0.1:1/" in error_line(err)
    assert os.listdir(tmp_path / "fashion_mnist") == []
    status, _, err = download_binary("--dataset=svhn", f"--data_dir={tmp_path}")
    assert status == 1 and "--dataset" in error_line(err)


def test_binarized_mnist_here_passes_its_checks():
    # The table's sums are those of the real files: the local gzipped copies pass as
    # present (by their content's sha256), so the unreachable host is never asked.
    lines = []
    fetch.download(sources.DATASETS["binarized_mnist"], DATA, "http://127.0.0.1:1/",
                   log=lines.append)
    assert len(lines) == 3 and all(line.endswith("present, checked") for line in lines)


# ------------------------------------------------------------------ library, small tables


def test_binarized_subset_is_gzipped_for_the_reader(tmp_path):
    with gzip.open(os.path.join(DATA, "binarized_mnist", "binarized_mnist_test.amat.gz")) as f:
        text = b"".join(f.readline() for _ in range(100))
    (tmp_path / "binarized_mnist_test.amat").write_bytes(text)
    remote = sources.Remote("binarized_mnist_test.amat", len(text), sha256(text),
                            content_sha256=sha256(text), target="binarized_mnist_test.amat.gz",
                            store="gzip")
    dataset = sources.Dataset("unused", "binarized_mnist", (remote,))
    data_dir = tmp_path / "data"
    fetch.download(dataset, str(data_dir), tmp_path.as_uri(), log=quiet)
    assert sorted(os.listdir(data_dir / "binarized_mnist")) == ["binarized_mnist_test.amat.gz"]
    subset = load_binarized_mnist(data_dir, "test", strict=False)
    np.testing.assert_array_equal(subset, load_binarized_mnist(DATA, "test")[:100])


def test_coco_captions_are_extracted_from_the_zip(tmp_path):
    names = [f"annotations/captions_{s}2017.json" for s in ("train", "val")]
    archive = tmp_path / "annotations_trainval2017.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in names:
            z.write(os.path.join(DATA, "coco", name), name)
        z.writestr("annotations/instances_val2017.json", "{}")
    data = archive.read_bytes()
    remote = dataclasses.replace(sources.DATASETS["coco_captions"].files[0], size=len(data),
                                 sha256=sha256(data))
    dataset = dataclasses.replace(sources.DATASETS["coco_captions"], files=(remote,))
    data_dir = tmp_path / "data"
    fetch.download(dataset, str(data_dir), tmp_path.as_uri(), log=quiet)
    assert os.listdir(data_dir / "coco") == ["annotations"]  # no archive, no .part
    assert sorted(os.listdir(data_dir / "coco" / "annotations")) == [
        "captions_train2017.json", "captions_val2017.json"]
    for name in names:
        with open(os.path.join(DATA, "coco", name), "rb") as f:
            assert (data_dir / "coco" / name).read_bytes() == f.read()
    lines = []
    fetch.download(dataset, str(data_dir), "http://127.0.0.1:1/", log=lines.append)
    assert lines == ["coco/annotations_trainval2017.zip: present, checked"]


def test_a_stale_part_is_fetched_anew_from_a_host_without_ranges(tmp_path):
    data = os.urandom(5000)
    (tmp_path / "f.bin").write_bytes(data)
    data_dir = tmp_path / "data"
    (data_dir / "set").mkdir(parents=True)
    (data_dir / "set" / "f.bin.part").write_bytes(b"x" * 3000)  # file:// ignores Range
    fetch.download(one_file("f.bin", data), str(data_dir), tmp_path.as_uri(), log=quiet)
    assert os.listdir(data_dir / "set") == ["f.bin"]
    assert (data_dir / "set" / "f.bin").read_bytes() == data


def test_size_only_entries_check_the_size(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"abc")
    ok = sources.Dataset("unused", "set", (sources.Remote("f.bin", 3, None, target="f.bin"),))
    fetch.download(ok, str(tmp_path / "a"), tmp_path.as_uri(), log=quiet)
    assert (tmp_path / "a" / "set" / "f.bin").read_bytes() == b"abc"
    bad = sources.Dataset("unused", "set", (sources.Remote("f.bin", 4, None, target="f.bin"),))
    with pytest.raises(DataError, match="size 3 bytes, expected 4"):
        fetch.download(bad, str(tmp_path / "b"), tmp_path.as_uri(), log=quiet)
    assert os.listdir(tmp_path / "b" / "set") == []


# ------------------------------------------------------------------ HTTP: Range and breaks


class _Server(http.server.BaseHTTPRequestHandler):
    """Serves FILES with Range support; a name in CUT is cut off mid-body once."""

    files, cut, ranges = {}, set(), []

    def do_GET(self):  # noqa: N802  (http.server's name)
        data = self.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        asked = self.headers.get("Range")
        self.ranges.append(asked)
        start = int(asked.split("=")[1].rstrip("-")) if asked else 0
        if start >= len(data):
            self.send_error(416)
            return
        self.send_response(206 if asked else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if self.path.lstrip("/") in self.cut:
            self.cut.discard(self.path.lstrip("/"))
            body = body[:len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        del args


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_a_part_is_resumed_with_range(tmp_path, server):
    data = os.urandom(20000)
    _Server.files["r.bin"] = data
    _Server.ranges.clear()
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "r.bin.part").write_bytes(data[:12345])
    fetch.download(one_file("r.bin", data), str(tmp_path), server, log=quiet)
    assert _Server.ranges == ["bytes=12345-"]
    assert os.listdir(tmp_path / "set") == ["r.bin"]
    assert (tmp_path / "set" / "r.bin").read_bytes() == data


def test_a_broken_connection_keeps_the_part_and_resumes(tmp_path, server):
    data = os.urandom(30000)
    _Server.files["c.bin"] = data
    _Server.cut.add("c.bin")
    _Server.ranges.clear()
    with pytest.raises(DataError, match="run again to resume") as e:
        fetch.download(one_file("c.bin", data), str(tmp_path), server, log=quiet)
    assert "\n" not in str(e.value)
    part = tmp_path / "set" / "c.bin.part"
    assert os.listdir(tmp_path / "set") == ["c.bin.part"]
    assert data.startswith(part.read_bytes()) and 0 < part.stat().st_size < len(data)
    fetch.download(one_file("c.bin", data), str(tmp_path), server, log=quiet)
    assert _Server.ranges == [None, f"bytes={15000}-"]
    assert (tmp_path / "set" / "c.bin").read_bytes() == data
    assert os.listdir(tmp_path / "set") == ["c.bin"]


def test_a_whole_part_left_before_its_rename_is_checked_and_placed(tmp_path, server):
    data = os.urandom(1000)
    _Server.files["w.bin"] = data
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "w.bin.part").write_bytes(data)  # the server answers 416
    fetch.download(one_file("w.bin", data), str(tmp_path), server, log=quiet)
    assert (tmp_path / "set" / "w.bin").read_bytes() == data
    assert os.listdir(tmp_path / "set") == ["w.bin"]


def test_http_errors_are_one_line(tmp_path, server):
    with pytest.raises(DataError, match=r"HTTP 404") as e:
        fetch.download(one_file("missing.bin", b"x"), str(tmp_path), server, log=quiet)
    assert "\n" not in str(e.value)
    assert os.listdir(tmp_path / "set") == []
