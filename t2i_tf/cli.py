"""What every binary shares: expected failures end in one line on stderr and exit 1;
Ctrl-C ends quietly with 130; `--help` prints the flags and exits 0; TensorFlow's and
JAX's start-up messages (oneDNN, CPU features, "Unable to initialize backend 'tpu'") are
hidden unless `--verbosity` (`-v`) asks for log messages."""

import re
import sys

from absl import app, flags

from t2i_tf import quiet_start
from t2i_tf.errors import EXPECTED, RunError, UsageError  # noqa: F401  (the binaries' names)


# Every binary imports this module before TensorFlow: its start-up lines are hidden unless
# a --verbosity flag asks for log messages.
if not any(re.match(r"--?(v|verbosity)(=|$)", a) for a in sys.argv[1:]):
    quiet_start.install()


# The flags that several binaries share, defined here once. Each binary calls these at import;
# the flags belong to it (its --help lists them), as if it had defined them itself: absl
# attributes a flag to the first calling module that has not disclaimed its flags.
flags.disclaim_key_flags()


def define_model_flag(default=None, more=""):
    """--model: a model folder or a shipped model's name (`more`: what this binary adds)."""
    flags.DEFINE_string("model", default, "A model folder, or the name of one under models/"
                        + (f"; {more}" if more else "."))


def define_data_dir_flag(more=""):
    """--data_dir: where the data sets are read (t2i_tf/data/locate.py)."""
    flags.DEFINE_string("data_dir", None, "Data folder; default $T2I_DATA_DIR or "
                        "../shared/data." + (f" {more}" if more else ""))


def run(main):
    """absl's app.run, with expected errors turned into `error: ...` and exit status 1."""

    def guarded(argv):
        if not flags.FLAGS["verbosity"].present:
            # absl raises an app's default verbosity to INFO once flags are parsed; Python
            # loggers (JAX's backend probe, TensorFlow's SavedModel writer) then fill stderr.
            flags.FLAGS.verbosity = -1  # WARNING, absl's own default
        try:
            if len(argv) > 1:  # a caption or path given without its flag
                raise UsageError(f"unexpected argument {argv[1]!r}: every input is a flag "
                                 "(e.g. --caption=\"...\"); see --help")
            return main(argv)
        except EXPECTED as e:
            message = " ".join(str(e).split()) or type(e).__name__
            print(f"error: {message}", file=sys.stderr)
            sys.exit(1)
        except ModuleNotFoundError as e:  # an optional dependency (pyproject's extras)
            extra = _EXTRAS.get((e.name or "").split(".")[0])
            if extra is None:
                raise
            print(f"error: this needs {e.name.split('.')[0]}, which is not installed: "
                  f"pip install 't2i-tf[{extra}]'", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:  # Ctrl-C: quiet, with the shell's status for SIGINT
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    _adopt_as_main(sys.modules.get(main.__module__))
    try:
        app.run(guarded, flags_parser=_parse_flags)
    except SystemExit as e:  # absl ends --help with status 1; asking for help is no error
        if e.code == 1 and any(a in _HELP for a in sys.argv[1:]):
            sys.exit(0)
        raise


def _adopt_as_main(module):
    """Under a console script (t2i-sample) __main__ is pip's wrapper: it takes the binary's
    docstring and flags, so that --help reads as under `python -m t2i_tf.sample`."""
    wrapper = sys.modules["__main__"]
    if module is None or module is wrapper:
        return
    wrapper.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def _parse_flags(argv):
    """absl's parsing, with a bad or missing flag reported in one line."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        message = " ".join(str(e).split())
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(1)


# Top-level modules of the optional dependencies -> the extra that installs them.
_EXTRAS = {"tensorflow": "tensorflow", "tensorboard": "jax", "aiohttp": "serve",
           "tensorflow_datasets": "tfds"}
_HELP = ("--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")
