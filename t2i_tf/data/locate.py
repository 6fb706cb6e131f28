"""Finding the local data folder and the files in it.

The data folder holds ``mnist/`` and ``binarized_mnist/`` (see the data README).
It is, in order of preference: an explicit ``data_dir`` argument (``--data_dir``),
the ``T2I_DATA_DIR`` environment variable, or ``../shared/data`` next to the checkout.
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

from t2i_tf.errors import DataError  # noqa: F401  (raised here, caught by the binaries)

ENV_VAR = "T2I_DATA_DIR"
_HINT = f"(pass --data_dir or set {ENV_VAR})"


def default_data_dir() -> str:
    """``$T2I_DATA_DIR`` if set, else ``<checkout>/../shared/data``.

    ``<checkout>`` is the folder that contains the ``t2i_tf`` package.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return os.path.expanduser(env)
    checkout = pathlib.Path(__file__).resolve().parent.parent.parent
    return str(checkout.parent / "shared" / "data")


def resolve_data_dir(data_dir: str | os.PathLike | None) -> str:
    """Returns ``data_dir`` (user-expanded) or ``default_data_dir()``.

    Raises:
      DataError: if the folder does not exist.
    """
    folder = os.path.expanduser(os.fspath(data_dir)) if data_dir else default_data_dir()
    if not os.path.isdir(folder):
        raise DataError(f"data folder {os.path.abspath(folder)} does not exist {_HINT}")
    return folder


def find_file(
    folder: str | os.PathLike,
    name: str,
    suffixes: Sequence[str] = ("", ".gz"),
    description: str = "data",
) -> str:
    """Returns the path of ``folder/name+suffix`` for the first suffix that exists.

    Args:
      folder: folder to look in.
      name: file name without the optional suffix (e.g. ``train-images-idx3-ubyte``).
      suffixes: suffixes tried in order; the default reads raw or gzipped files.
      description: what the file is, for the error message (e.g. ``"MNIST"``).

    Raises:
      DataError: "MNIST file train-images-idx3-ubyte(.gz) not found in /abs/folder ...".
    """
    folder = os.fspath(folder)
    for suffix in suffixes:
        path = os.path.join(folder, name + suffix)
        if os.path.isfile(path):
            return path
    alternatives = "".join(f"({s})" for s in suffixes if s)
    raise DataError(
        f"{description} file {name}{alternatives} not found in "
        f"{os.path.abspath(folder)} {_HINT}"
    )
