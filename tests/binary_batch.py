"""Runs one binary several times in one process, for tests/test_binaries.py's run_batch.

  python tests/binary_batch.py MODULE CASES.json RESULTS.json

CASES.json holds a list of {"args": [...], "env": {...}}; RESULTS.json gets one
{"returncode", "stdout", "stderr"} per case, as `python -m MODULE ARGS` with that
environment would give them. Each case starts from fresh flags (absl's unparse_flags), its
own sys.argv and its own file descriptors 1 and 2 (so that what TensorFlow's C++ code
writes is caught with the rest), and ends like a process would: the code of sys.exit, or a
traceback and 1 for an exception that escapes. Importing TensorFlow and Keras, about as
long as a short case, is paid once per batch instead of once per case.

Only for cases that stop early (bad flags, bad files, --help): a case that trains or draws
would see the models and compiled functions of the cases before it.
"""

import contextlib
import importlib
import json
import os
import sys
import tempfile
import traceback


@contextlib.contextmanager
def _environment(changes):
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _exit_status(code, stderr):
    """What the interpreter makes of sys.exit(code): None is 0, a message is 1."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=stderr)
    return 1


def run_case(module, args, env):
    from absl import flags

    flags.FLAGS.unparse_flags()
    sys.argv = [module.__file__, *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            with _environment(env):
                try:
                    module.run()
                    code = 0
                except SystemExit as e:
                    code = _exit_status(e.code, sys.stderr)
                except BaseException:  # noqa: BLE001  (as the interpreter: traceback, 1)
                    traceback.print_exc()
                    code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
        out.seek(0)
        err.seek(0)
        return {"returncode": code, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def main(module_name, cases_path, results_path):
    with open(cases_path) as f:
        cases = json.load(f)
    module = importlib.import_module(module_name)
    results = [run_case(module, case["args"], case.get("env", {})) for case in cases]
    with open(results_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
