"""The errors a user can act on, in one place for the library and the binaries.

A binary (t2i_tf.cli.run) turns each of these into one line on stderr and exit status 1;
anything else is a bug and keeps its traceback.
"""


class UsageError(Exception):
    """Bad flag values or input that a binary refuses before doing any work."""


class RunError(Exception):
    """A run that cannot go on, for a reason its message states and the user can act on."""


class DataError(Exception):
    """A data file is missing, truncated or malformed.

    The message is a single line naming the file (or folder) and the problem, so
    binaries can print it and exit non-zero without a traceback.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class CheckpointError(Exception):
    """A model folder or checkpoint is missing, unreadable or belongs to another model."""


# OSError: an unwritable or missing output path.
EXPECTED = (DataError, CheckpointError, UsageError, RunError, OSError)
