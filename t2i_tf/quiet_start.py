"""Keeps TensorFlow's start-up messages off a binary's stderr (t2i_tf.cli installs it).

TF_CPP_MIN_LOG_LEVEL=1 hides TensorFlow's C++ INFO lines (CPU features) and keeps its
warnings, but TensorFlow 2.21 writes "oneDNN custom operations are on" through absl before
that setting applies, so the first `import tensorflow` runs with file descriptor 2 sent to a
temporary file, and what it wrote comes back to stderr less those lines. JAX's "Unable to
initialize backend 'tpu'" is a Python INFO log: t2i_tf.cli keeps absl's verbosity at WARNING.
"""

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

_NOISE = re.compile(r"All log messages before absl::InitializeLog\(\) is called|"
                    r"oneDNN custom operations are on|cpu_feature_guard|"
                    r"^To enable the following instructions: .* rebuild TensorFlow")


def install():
    """Sets TF_CPP_MIN_LOG_LEVEL (unless set) and filters the first TensorFlow import."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if "tensorflow" not in sys.modules and not any(
            isinstance(f, _TensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowFinder())


@contextlib.contextmanager
def filtered_stderr():
    """Runs the body with fd 2 captured; then writes back all but the start-up lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _NOISE.search(line)))
            sys.stderr.flush()


class _TensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader
        with filtered_stderr():
            self._loader.exec_module(module)

    def __getattr__(self, name):  # everything else (get_resource_reader, ...) as TF's own
        return getattr(self._loader, name)
