"""Puts the checkout on sys.path so a bare `pytest` finds the t2i_tf package, gives the whole
run one XLA compilation cache, and keeps NumPy's BLAS on one thread.

Most of a small binary's run is XLA compiling the same few programs that other tests
compiled before it (a smoke model's training step, its sampler, the variables'
initialisers). JAX's persistent compilation cache and TensorFlow's
(--tf_xla_persistent_cache_directory) keep each compiled program in a folder that every
process of this run shares, the pytest workers and the binaries they start: a program is
compiled once per run. The folder is new for each run and removed at its end, so nothing
compiled by another version of the code is ever loaded. A cached program is the one XLA
would compile again, so results do not change.

The suite runs a process per core (pytest-xdist) and each starts binaries: OpenBLAS's
threads, one per core in every process, then wait for each other on cores that are busy,
and a LAPACK call that takes 30 ms alone takes seconds (an LSTM's orthogonal initialiser,
a QR of 1,200 x 300, measured at 0.03 s on one thread and 3 to 5 s on two threads of a
loaded 2-core machine). OPENBLAS_NUM_THREADS=1 is set for the run unless it is set already.
"""

import os
import shutil
import sys
import tempfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

_CACHE_VARIABLE = "T2I_TEST_XLA_CACHE"


def pytest_configure(config):
    if os.environ.get(_CACHE_VARIABLE):  # a pytest-xdist worker: its parent made the cache
        return
    folder = tempfile.mkdtemp(prefix="t2i_tf_xla_cache_")
    config.t2i_xla_cache = folder
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    tf_flags = os.environ.get("TF_XLA_FLAGS", "")
    os.environ.update({
        _CACHE_VARIABLE: folder,
        "JAX_COMPILATION_CACHE_DIR": os.path.join(folder, "jax"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "TF_XLA_FLAGS": f"{tf_flags} --tf_xla_persistent_cache_directory="
                        f"{os.path.join(folder, 'tensorflow')}".strip(),
    })


def pytest_unconfigure(config):
    folder = getattr(config, "t2i_xla_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(_CACHE_VARIABLE, None)


@pytest.fixture(autouse=True, scope="module")
def _binary_flags_stay_in_their_file():
    """A test file that imports a binary (t2i_tf.serve, tools/make_results.py) defines its
    absl flags in the process-wide flags.FLAGS; in a pytest-xdist worker another file that
    imports a binary with a flag of the same name, or parses FLAGS, would meet them (absl
    refuses a second --model, and runs every validator at a parse). Flags defined while a
    file runs are removed after it, with the modules that defined them."""
    from absl import flags

    before = set(flags.FLAGS)
    yield
    values = flags.FLAGS
    added = set(values) - before
    if not added:
        return
    owners = [module for module, defined in values.flags_by_module_dict().items()
              if any(f.name in added for f in defined)]
    if values.is_parsed():
        values.unparse_flags()
    for name in added:
        delattr(values, name)
    for module in owners:
        sys.modules.pop(module, None)
