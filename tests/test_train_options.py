"""train's alignDRAW options and captioned-MNIST augmentations (docs/HELD_OUT.md): refused in
one line where the model or data lacks them, before anything slow is imported; the proxy
flagfiles name only options that exist."""

import glob
import os
import subprocess
import sys

import pytest

from test_binaries import assert_one_line_error, run
from test_summaries import ROOT


@pytest.mark.parametrize("args, fragment", [
    (["--model=draw", "--write_context"], "--write_context: options of --model=align_draw"),
    (["--model=draw", "--align_score=luong", "--memory_embedding"],
     "--align_score, --memory_embedding: options of --model=align_draw"),
    (["--model=align_draw", "--data=coco_32_rgb", "--word_dropout=0.1"],
     "--word_dropout: augmentations of --data=captioned_mnist"),
    (["--model=align_draw", "--data=captioned_mnist", "--corner_shift=3"], "--corner_shift"),
    (["--model=align_draw", "--data=captioned_mnist", "--word_dropout=1"], "--word_dropout"),
])
def test_options_out_of_place_are_one_line(tmp_path, args, fragment):
    result = run("t2i_tf.train", *args, f"--workdir={tmp_path / 'run'}")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "run").exists()


def test_proxy_flagfiles_use_known_flags():
    """Every flag a proxy flagfile (and the full run of a remedy) sets is one of train's
    (absl would refuse the run)."""
    # train's flags are read in a process of their own: absl refuses a flag that two binaries
    # define, and another test imports t2i_tf.serve, which also defines --model.
    listing = subprocess.run(
        [sys.executable, "-c", "from absl import flags; from t2i_tf import train; "
         "print(*flags.FLAGS)"], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "KERAS_BACKEND": "numpy"})
    known = set(listing.stdout.split())
    assert {"model", "write_context", "corner_shift"} <= known
    paths = sorted(glob.glob(os.path.join(ROOT, "flags", "aligndraw_proxy_*")))
    assert len(paths) >= 4  # the baseline and at least three remedies
    for path in paths + [os.path.join(ROOT, "flags", "mnist_captions_aligndraw_memory")]:
        with open(path) as f:
            lines = [line.strip() for line in f if line.startswith("--")]
        assert lines[0] == "--flagfile=flags/mnist_captions_aligndraw"
        for line in lines[1:]:
            name = line[2:].split("=")[0]
            assert name in known or name.startswith("no") and name[2:] in known, (path, line)
