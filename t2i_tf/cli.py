"""What every binary shares: expected failures end in one line on stderr and exit 1."""

import sys

from absl import app

from t2i_tf.checkpoint import CheckpointError
from t2i_tf.data.locate import DataError


class UsageError(Exception):
    """Bad flag values or input that a binary refuses before doing any work."""


class RunError(Exception):
    """A run that cannot go on, for a reason its message states and the user can act on."""


# OSError: an unwritable or missing output path. Anything else is a bug and keeps its traceback.
EXPECTED = (DataError, CheckpointError, UsageError, RunError, OSError)


def run(main):
    """absl's app.run, with expected errors turned into `error: ...` and exit status 1."""

    def guarded(argv):
        try:
            return main(argv)
        except EXPECTED as e:
            message = " ".join(str(e).split()) or type(e).__name__
            print(f"error: {message}", file=sys.stderr)
            sys.exit(1)

    app.run(guarded)
