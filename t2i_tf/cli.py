"""What every binary shares: expected failures end in one line on stderr and exit 1;
Ctrl-C ends quietly with 130; `--help` prints the flags and exits 0."""

import sys

from absl import app, flags

from t2i_tf.errors import EXPECTED, RunError, UsageError  # noqa: F401  (the binaries' names)


def run(main):
    """absl's app.run, with expected errors turned into `error: ...` and exit status 1."""

    def guarded(argv):
        try:
            if len(argv) > 1:  # a caption or path given without its flag
                raise UsageError(f"unexpected argument {argv[1]!r}: every input is a flag "
                                 "(e.g. --caption=\"...\"); see --help")
            return main(argv)
        except EXPECTED as e:
            message = " ".join(str(e).split()) or type(e).__name__
            print(f"error: {message}", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:  # Ctrl-C: quiet, with the shell's status for SIGINT
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    try:
        app.run(guarded, flags_parser=_parse_flags)
    except SystemExit as e:  # absl ends --help with status 1; asking for help is no error
        if e.code == 1 and any(a in _HELP for a in sys.argv[1:]):
            sys.exit(0)
        raise


def _parse_flags(argv):
    """absl's parsing, with a bad or missing flag reported in one line."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        message = " ".join(str(e).split())
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(1)


_HELP = ("--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")
