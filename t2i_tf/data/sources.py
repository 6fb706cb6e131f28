"""Where each dataset comes from, and the checksums its files are held to.

`t2i_tf.data.fetch` downloads these files (`python -m t2i_tf.data.download`); docs/DATA.md
says where the code then reads them. Checksums:

  sha256           of the file as its host serves it, with its size in bytes. Every value
                   here is the one tensorflow-datasets 4.9.10 publishes for the same URL
                   (its url_checksums/{mnist,fashion_mnist,coco}.txt and
                   datasets/binarized_mnist/checksums.tsv).
  content_sha256   of the uncompressed content (gzip files and the binarized .amat files),
                   so a copy compressed anew, from a mirror or kept locally, also passes.
                   MNIST's were computed from copies whose uncompressed MD5s equal the ones
                   published beside the files; binarized MNIST's equal tensorflow-datasets'
                   sha256 of the .amat files (checked against a local copy).

A file is accepted if its sha256 matches, or its content_sha256 does. An entry without
either is held to its size only (none of the files below is: each has a published sum).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Remote:
    """One file on a dataset's host.

    Attributes:
      name: file name under the dataset's base URL.
      size: bytes as served, or None if unknown.
      sha256: hex digest of the file as served, or None if unknown.
      content_sha256: hex digest of the uncompressed content, or None.
      target: path under the dataset's folder where it is kept ("" for zip archives,
        whose `members` are extracted instead).
      store: "copy" (kept as served), "gzip" (compressed on arrival) or "unzip".
      members: for "unzip": {member path in the archive: path under the dataset folder}.
    """

    name: str
    size: int | None
    sha256: str | None
    content_sha256: str | None = None
    target: str = ""
    store: str = "copy"
    members: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset's host and files; `folder` is its place under the data folder."""

    base_url: str
    folder: str
    files: tuple[Remote, ...]


def _idx(name, size, sha256, content_sha256=None):
    return Remote(name, size, sha256, content_sha256, target=name)


def _amat(split, size, sha256):
    # The host serves plain text; the readers take it gzipped (2 MB instead of 78 MB).
    name = f"binarized_mnist_{split}.amat"
    return Remote(name, size, sha256, content_sha256=sha256, target=name + ".gz", store="gzip")


DATASETS = {
    "mnist": Dataset("https://storage.googleapis.com/cvdf-datasets/mnist/", "mnist", (
        _idx("train-images-idx3-ubyte.gz", 9912422,
             "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
             "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        _idx("train-labels-idx1-ubyte.gz", 28881,
             "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        _idx("t10k-images-idx3-ubyte.gz", 1648877,
             "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
             "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        _idx("t10k-labels-idx1-ubyte.gz", 4542,
             "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
             "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    )),
    "binarized_mnist": Dataset(
        "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",
        "binarized_mnist", (
            _amat("train", 78400000,
                  "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
            _amat("valid", 15680000,
                  "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
            _amat("test", 15680000,
                  "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
        )),
    "fashion_mnist": Dataset(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "fashion_mnist", (
            _idx("train-images-idx3-ubyte.gz", 26421880,
                 "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            _idx("train-labels-idx1-ubyte.gz", 29515,
                 "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            _idx("t10k-images-idx3-ubyte.gz", 4422102,
                 "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            _idx("t10k-labels-idx1-ubyte.gz", 5148,
                 "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        )),
    "coco_captions": Dataset("http://images.cocodataset.org/annotations/", "coco", (
        Remote("annotations_trainval2017.zip", 252907541,
               "113a836d90195ee1f884e704da6304dfaaecff1f023f49b6ca93c4aaae470268",
               store="unzip", members=tuple(
                   (f"annotations/captions_{split}2017.json",
                    f"annotations/captions_{split}2017.json") for split in ("train", "val"))),
    )),
}
