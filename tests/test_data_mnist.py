"""Tests of t2i_tf.data.locate and t2i_tf.data.mnist: the real files, and broken copies."""

import gzip
import os

import numpy as np
import pytest

from t2i_tf.data import locate
from t2i_tf.data.locate import DataError
from t2i_tf.data.mnist import EXPECTED_ROWS, load_binarized_mnist, load_mnist, parse_amat


# ---------------------------------------------------------------- fixture writers


def write_idx(path, magic, array, dims=None, gz=True):
    """Writes ``array`` (uint8) as an IDX file; ``dims`` overrides the header dims."""
    array = np.asarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    header = np.array([magic, *dims], dtype=">u4").tobytes()
    data = header + array.tobytes()
    path = str(path) + (".gz" if gz else "")
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)
    return path


def write_mnist(data_dir, split="train", n=3, gz=True):
    """A tiny MNIST split under ``data_dir/mnist``; returns (images, labels)."""
    folder = os.path.join(data_dir, "mnist")
    os.makedirs(folder, exist_ok=True)
    prefix = {"train": "train", "test": "t10k"}[split]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), 2051, images, gz=gz)
    write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), 2049, labels, gz=gz)
    return images, labels


def amat_text(rows, newline="\n"):
    return newline.join(" ".join(str(int(v)) for v in row) for row in rows) + newline


def write_amat(data_dir, split, text, gz=True):
    folder = os.path.join(data_dir, "binarized_mnist")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"binarized_mnist_{split}.amat" + (".gz" if gz else ""))
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(text.encode())
    return path


def random_bits(n, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=(n, 784))


def check_error(excinfo, fragment):
    message = str(excinfo.value)
    assert fragment in message, message
    assert "\n" not in message, message


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def binarized_train():
    return load_binarized_mnist(split="train")


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_mnist(split):
    images, labels = load_mnist(split=split)
    n = EXPECTED_ROWS["mnist"][split]
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    assert np.bincount(labels).min() > n // 20
    assert 0.12 < images.mean() / 255 < 0.14
    first = {"train": [5, 0, 4, 1, 9], "test": [7, 2, 1, 0, 4]}[split]
    assert labels[:5].tolist() == first


def test_real_binarized_train(binarized_train):
    x = binarized_train
    assert x.shape == (50000, 28, 28) and x.dtype == np.float32
    assert set(np.unique(x)) == {0.0, 1.0}
    assert 0.125 < x.mean() < 0.136  # 0.1306
    # digits are centred: the border pixels are nearly always off
    assert x[:, 0, :].mean() < 0.01 and x[:, 10:18, 10:18].mean() > 0.2


@pytest.mark.parametrize("split", ["valid", "test"])
def test_real_binarized_eval_splits(split):
    x = load_binarized_mnist(split=split)
    assert x.shape == (10000, 28, 28) and x.dtype == np.float32
    assert set(np.unique(x)) == {0.0, 1.0}
    assert 0.125 < x.mean() < 0.136


def test_unknown_split():
    with pytest.raises(ValueError, match="validation"):
        load_binarized_mnist(split="validation")
    with pytest.raises(ValueError, match="valid"):
        load_mnist(split="valid")


# ---------------------------------------------------------------- locating files


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    expected = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..")
    assert os.path.samefile(locate.default_data_dir(), os.path.join(expected, "shared", "data"))
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path))
    assert locate.default_data_dir() == str(tmp_path)
    assert locate.resolve_data_dir(None) == str(tmp_path)


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError) as e:
        locate.resolve_data_dir(tmp_path / "nowhere")
    check_error(e, "nowhere")
    assert "T2I_DATA_DIR" in str(e.value)


def test_missing_file(tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path, "test", strict=False)
    check_error(e, "t10k-images-idx3-ubyte(.gz) not found in " + str(tmp_path / "mnist"))
    with pytest.raises(DataError) as e:
        load_binarized_mnist(tmp_path, "valid")
    check_error(e, "binarized_mnist_valid.amat(.gz) not found")


# ---------------------------------------------------------------- IDX files


@pytest.mark.parametrize("gz", [True, False])
def test_tiny_idx_roundtrip(tmp_path, gz):
    images, labels = write_mnist(tmp_path, "test", n=4, gz=gz)
    got_images, got_labels = load_mnist(tmp_path, "test", strict=False)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    with pytest.raises(DataError) as e:  # strict: wrong count
        load_mnist(tmp_path, "test")
    name = "t10k-images-idx3-ubyte" + (".gz" if gz else "")
    check_error(e, name + " has 4 items, expected 10000")


def test_truncated_gzip(tmp_path):
    write_mnist(tmp_path, "train")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path, strict=False)
    check_error(e, "train-images-idx3-ubyte.gz")


def test_not_gzip(tmp_path):
    write_mnist(tmp_path, "train")
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"this is not gzip data")
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path, strict=False)
    check_error(e, "train-labels-idx1-ubyte.gz")


def test_truncated_payload(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(tmp_path, "train", n=3)
    write_idx(folder / "train-images-idx3-ubyte", 2051, np.zeros((2, 28, 28)), dims=(3, 28, 28))
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path, strict=False)
    check_error(e, "train-images-idx3-ubyte.gz is truncated")


def test_wrong_magic(tmp_path):
    write_mnist(tmp_path, "train")
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte", 2051, np.zeros(3))
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path, strict=False)
    check_error(e, "train-labels-idx1-ubyte.gz has magic number 2051, expected 2049")


def test_wrong_dims_and_counts(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(tmp_path, "train", n=3)
    write_idx(folder / "train-images-idx3-ubyte", 2051, np.zeros((3, 27, 28)))
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path, strict=False)
    check_error(e, "has item shape (27, 28), expected (28, 28)")
    write_idx(folder / "train-images-idx3-ubyte", 2051, np.zeros((2, 28, 28)))
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path, strict=False)
    check_error(e, "has 2 images but")
    write_idx(folder / "train-images-idx3-ubyte", 2051, np.zeros((3, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte", 2049, [1, 2, 10])
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path, strict=False)
    check_error(e, "has label 10")


# ---------------------------------------------------------------- .amat files


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_tiny_amat_roundtrip(tmp_path, gz, newline):
    bits = random_bits(5)
    write_amat(tmp_path, "test", amat_text(bits, newline), gz=gz)
    x = load_binarized_mnist(tmp_path, "test", strict=False)
    assert x.dtype == np.float32 and x.shape == (5, 28, 28)
    np.testing.assert_array_equal(x.reshape(5, 784), bits)
    with pytest.raises(DataError) as e:
        load_binarized_mnist(tmp_path, "test")
    check_error(e, "binarized_mnist_test.amat")
    assert "has 5 rows, expected 10000" in str(e.value)


def test_amat_without_final_newline_or_extra_spaces():
    bits = random_bits(2)
    text = "  ".join(" ".join(map(str, bits[0])).split(" ")) + " \n" + " ".join(map(str, bits[1]))
    np.testing.assert_array_equal(parse_amat(text.encode(), "f.amat"), bits)


def test_amat_short_row(tmp_path):
    lines = amat_text(random_bits(20)).splitlines()
    lines[16] = lines[16][:-2]  # row 17 loses its last value
    write_amat(tmp_path, "train", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        load_binarized_mnist(tmp_path, "train", strict=False)
    check_error(e, "binarized_mnist_train.amat.gz row 17 has 783 values, expected 784")


@pytest.mark.parametrize(
    "row, problem",
    [
        ("2" + " 0" * 783, "invalid character '2'"),
        ("0.5" + " 0" * 783, "invalid character '.'"),
        ("01" + " 0" * 783, "a value other than 0 or 1"),
    ],
)
def test_amat_bad_values(tmp_path, row, problem):
    text = amat_text(random_bits(3)) + row + "\n"
    write_amat(tmp_path, "valid", text, gz=False)
    with pytest.raises(DataError) as e:
        load_binarized_mnist(tmp_path, "valid", strict=False)
    check_error(e, "binarized_mnist_valid.amat row 4 has " + problem)


def test_amat_empty_and_blank_line(tmp_path):
    write_amat(tmp_path, "test", "\n\n")
    with pytest.raises(DataError) as e:
        load_binarized_mnist(tmp_path, "test", strict=False)
    check_error(e, "binarized_mnist_test.amat.gz is empty")
    lines = amat_text(random_bits(2)).splitlines()
    write_amat(tmp_path, "test", lines[0] + "\n\n" + lines[1] + "\n")
    with pytest.raises(DataError) as e:
        load_binarized_mnist(tmp_path, "test", strict=False)
    check_error(e, "row 2 has 0 values")
