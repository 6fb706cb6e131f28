"""Packs what a JAX-only GPU machine (Python 3.12, JAX, no TensorFlow) needs to train a
flagfile, into a folder git ignores (gpu_bundle/ by default):

  python tools/gpu_bundle.py --flagfile=flags/mnist_captions_aligndraw [--out=gpu_bundle]

  OUT/wheels/  the keras, namex and optree wheels for CPython 3.12 on manylinux x86_64, at
               the versions of requirements.txt (`pip download --no-deps --only-binary`);
               the machine's image already has keras's other needs (numpy, absl-py, rich,
               h5py, ml-dtypes, packaging; typing-extensions for optree), pillow (for
               t2i_tf/visualize.py) and JAX with CUDA. README.md says how the recipe was
               rehearsed on a CPU with Python 3.12 and JAX 0.11.2 and nothing more.
  OUT/data/    the data files the flagfile's --data reads (mnist/ or binarized_mnist/).
  OUT/train.sh the command that installs the wheels and trains there; run it from the
               checkout: `bash gpu_bundle/train.sh runs/NAME [more train flags]`.

See README.md, "Training on a GPU machine without TensorFlow".
"""

import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELS = ("keras", "namex", "optree")
# pip matches a platform tag exactly: optree's cp312 wheel is tagged manylinux_2_27/2_28.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
# --data -> the folders under the data folder that it reads
DATA_FOLDERS = {"binarized_mnist": ["binarized_mnist"], "mnist": ["mnist"],
                "captioned_mnist": ["mnist"], "captioned_mnist_32": ["mnist"],
                "captioned_mnist_32_binary": ["mnist"]}
TRAIN_SH = """#!/usr/bin/env bash
# Written by tools/gpu_bundle.py for {flagfile}. From the checkout on the GPU machine:
#   bash {out}/train.sh WORKDIR [more train flags]
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site \\
  {out}/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax T2I_DATA_DIR={out}/data
workdir=$1; shift
mkdir -p "$workdir"
python3 -m t2i_tf.train --flagfile={flagfile} --workdir="$workdir" "$@" 2>&1 \\
  | tee -a "$workdir/train.log"
"""


class BundleError(Exception):
    pass


# namex and optree come with keras and are not pinned in requirements.txt: the tested ones.
TESTED = {"namex": "0.1.0", "optree": "0.20.0"}


def pinned_versions(requirements):
    """{name: version} of the WHEELS: requirements.txt's pins, else TESTED."""
    versions = dict(TESTED)
    with open(requirements) as f:
        for line in f:
            name, _, version = line.split("#")[0].strip().partition("==")
            if name in WHEELS:
                versions[name] = version
    return versions


def flag_value(flagfile, name, default):
    """The last --name=value of a flagfile (what absl would take), or default."""
    value = default
    with open(flagfile) as f:
        for line in f:
            line = line.strip()
            if line.startswith(f"--{name}="):
                value = line.split("=", 1)[1]
    return value


def download_wheels(versions, folder):
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp",
               *[a for p in PLATFORMS for a in ("--platform", p)], "-d", folder,
               *[f"{name}=={versions[name]}" for name in WHEELS]]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleError(f"pip download failed ({last}); fetch these wheels elsewhere: "
                          + ", ".join(f"{n}=={versions[n]}" for n in WHEELS))


def copy_data(data, data_dir, folder):
    if data not in DATA_FOLDERS:
        raise BundleError(f"--data={data} has no known files to carry")
    for name in DATA_FOLDERS[data]:
        source = os.path.join(data_dir, name)
        if not os.path.isdir(source):
            raise BundleError(f"{source} does not exist (pass --data_dir)")
        shutil.copytree(source, os.path.join(folder, name), dirs_exist_ok=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flagfile", required=True)
    parser.add_argument("--out", default="gpu_bundle")
    parser.add_argument("--data_dir", default=os.path.join(os.path.dirname(ROOT), "shared",
                                                           "data"))
    args = parser.parse_args()
    try:
        if not os.path.isfile(args.flagfile):
            raise BundleError(f"{args.flagfile} is not a file")
        data = flag_value(args.flagfile, "data", "binarized_mnist")
        versions = pinned_versions(os.path.join(ROOT, "requirements.txt"))
        os.makedirs(args.out, exist_ok=True)
        copy_data(data, os.environ.get("T2I_DATA_DIR", args.data_dir),
                  os.path.join(args.out, "data"))
        download_wheels(versions, os.path.join(args.out, "wheels"))
    except (BundleError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    script = os.path.join(args.out, "train.sh")
    with open(script, "w") as f:
        f.write(TRAIN_SH.format(flagfile=args.flagfile, out=args.out))
    print(f"{args.out}: wheels/ ({', '.join(sorted(os.listdir(os.path.join(args.out, 'wheels'))))}), "
          f"data/ ({data}), train.sh")


if __name__ == "__main__":
    main()
