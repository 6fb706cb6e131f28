"""t2i_tf.cli and t2i_tf.quiet_start: quiet start-up unless --verbosity asks; sample's
defaults for --beam alone."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
         "STDERR\nI0000 00:00:1796296793.043645   10040 port.cc:153] oneDNN custom operations "
         "are on. You may see slightly different numerical results.\n")


def python(code, *args, env=None):
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


def test_the_filter_drops_the_start_up_lines_and_keeps_the_rest():
    # Written to file descriptor 2 directly, as TensorFlow's C++ code does.
    code = ("import os; from t2i_tf import quiet_start\n"
            "with quiet_start.filtered_stderr():\n"
            f"    os.write(2, {NOISE.encode()!r} + b'W a real warning\\n')\n"
            "    print('a Python line', file=__import__('sys').stderr)\n"
            "os.write(2, b'after\\n')\n")
    p = python(code)
    assert p.returncode == 0
    assert p.stderr == "W a real warning\na Python line\nafter\n"


def test_tensorflow_starts_quietly_unless_verbosity_is_given():
    code = "import t2i_tf.cli, os, sys; import tensorflow; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    p = python(code, env=env)
    assert p.returncode == 0 and p.stdout == "1\n" and p.stderr == "", p.stderr
    code = "import t2i_tf.cli, os; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    assert python(code, "--verbosity=0", env=env).stdout == "None\n"


def test_python_info_logs_are_hidden_unless_verbosity_is_given():
    code = ("import logging; from t2i_tf import cli\n"
            "def main(argv):\n"
            "    logging.getLogger('jax._src.xla_bridge').info('Unable to initialize backend')\n"
            "    logging.getLogger('x').warning('a warning')\n"
            "cli.run(main)\n")
    quiet = python(code)
    assert quiet.returncode == 0
    assert "a warning" in quiet.stderr and "Unable" not in quiet.stderr
    verbose = python(code, "--verbosity=0")
    assert "Unable to initialize backend" in verbose.stderr


def test_sample_beam_alone_picks_the_pixel_model_and_a_caption(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # --out under a file: the binary stops before loading the model
    p = subprocess.run([sys.executable, "-m", "t2i_tf.sample", "--beam=4",
                        f"--out={blocker}/out"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 1
    note, error = p.stderr.strip().splitlines()
    assert note == ('note: drawing with --model=alignpixelrnn_mnist_captions --caption="the '
                    'digit 3 is at the top of the digit 1 ." (the defaults for --beam and '
                    '--method)')
    assert error.startswith("error: cannot create output folder")


def test_sample_draws_quietly(tmp_path):
    p = subprocess.run([sys.executable, "-m", "t2i_tf.sample", "--num_samples=2",
                        f"--out={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout.split() == [str(tmp_path / n) for n in ("samples.png", "steps.png",
                                                              "drawing.gif")]


def test_a_missing_optional_dependency_is_one_line():
    code = ("from t2i_tf import cli\n"
            "def main(argv):\n"
            "    raise ModuleNotFoundError(\"No module named 'tensorflow'\", name='%s')\n"
            "cli.run(main)\n")
    p = python(code % "tensorflow.python")
    assert p.returncode == 1
    assert p.stderr == ("error: this needs tensorflow, which is not installed: "
                        "pip install 't2i-tf[tensorflow]'\n")
    p = python(code % "not_an_extra")  # anything else is a bug: its traceback stays
    assert p.returncode == 1 and "Traceback" in p.stderr
