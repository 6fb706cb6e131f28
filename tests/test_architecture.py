"""The shape of the package (docs/ARCHITECTURE.md): which part may import which, and no
import loops. Imports are read from the source with ast (nothing is imported), those inside
functions included."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "t2i_tf")
BINARIES = ("train", "sample", "evaluate", "export", "serve")
# part -> the parts of t2i_tf it must never import. A part is a subpackage (t2i_tf.models)
# or a top-level module (t2i_tf.cli).
FORBIDDEN = {
    "layers": ("data", "models", "sampling", "metrics", "training", "serving", "evaluation",
               "cli", *BINARIES),
    "models": ("data", "sampling", "metrics", "training", "serving", "evaluation", "cli",
               *BINARIES),
    "data": ("layers", "models", "sampling", "metrics", "training", "serving", "evaluation",
             *BINARIES),
    "sampling": ("data", "metrics", "training", "serving", "evaluation", "cli", *BINARIES),
    "metrics": ("training.loop", "training.distribute", "serving", "evaluation", "cli",
                *BINARIES),
    "training": ("serving", "evaluation", "cli", *BINARIES),
    "serving": ("training.loop", "evaluation", "cli", *BINARIES),
    "evaluation": ("serving", "training.loop", "cli", *BINARIES),
    "errors": ("*",),
}
# The binaries (and `t2i_tf.data.download`, the download binary) may use the CLI helper.
BINARY_MODULES = {f"t2i_tf.{b}" for b in BINARIES} | {"t2i_tf.data.download"}


def imported_modules(source, module):
    """The t2i_tf modules that `source` (the text of `module`, dotted) imports, anywhere."""
    package = module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return {n for n in names if n == "t2i_tf" or n.startswith("t2i_tf.")}


def part_of(module):
    """t2i_tf.models.draw -> models; t2i_tf.cli -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(source, module):
    """["module imports target (forbidden for part)"] for one module's source."""
    part = part_of(module)
    rules = FORBIDDEN.get(part, ())
    if module not in BINARY_MODULES and part != "cli":
        rules = (*rules, "cli")
    found = {}
    for target in sorted(imported_modules(source, module)):
        rest = target[len("t2i_tf."):]
        if not rest or part_of(target) == part:
            continue
        for rule in rules:
            if rule == "*" or rest == rule or rest.startswith(rule + "."):
                key = part_of(target) if rule == "*" else rule
                found.setdefault(key, f"{module} imports {target} (forbidden for {part})")
                break
    return sorted(found.values())


def package_modules():
    """{dotted module name: source} of every .py file under t2i_tf/."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
                with open(path, encoding="utf-8") as f:
                    out[rel.removesuffix(".__init__")] = f.read()
    return out


@pytest.fixture(scope="module")
def modules():
    return package_modules()


def test_no_part_imports_what_it_must_not(modules):
    found = [v for module, source in sorted(modules.items()) for v in violations(source, module)]
    assert found == []


def test_models_and_layers_import_only_layers_and_models(modules):
    for module, source in modules.items():
        if part_of(module) in ("models", "layers"):
            allowed = ("layers",) if part_of(module) == "layers" else ("layers", "models")
            assert {part_of(t) for t in imported_modules(source, module)} <= set(allowed), module


@pytest.mark.parametrize("module,source", [
    ("t2i_tf.models.draw", "from t2i_tf.data import mnist\n"),
    ("t2i_tf.models.draw", "def f():\n    from t2i_tf.training import distribute\n"),
    ("t2i_tf.models.autoregressive", "import t2i_tf.sampling.step_samplers\n"),
    ("t2i_tf.layers.filterbank", "from t2i_tf.serving import saved_model\n"),
    ("t2i_tf.layers.scan", "from t2i_tf.models import draw\n"),
    ("t2i_tf.data.mnist", "from t2i_tf.models import registry\n"),
    ("t2i_tf.training.loop", "from t2i_tf import cli\n"),
    ("t2i_tf.errors", "from t2i_tf.data import locate\n"),
])
def test_a_forbidden_import_is_found(module, source):
    assert len(violations(source, module)) == 1
    assert violations("import keras\nfrom t2i_tf.errors import UsageError\n", module) == []


def test_the_binaries_may_use_the_cli_helper():
    assert violations("from t2i_tf import cli\n", "t2i_tf.train") == []
    assert violations("from t2i_tf import cli\n", "t2i_tf.metrics.ssim") != []


def module_graph(modules):
    """module -> the package modules it imports (a name that is a package's attribute, as
    in `from t2i_tf.data import mnist`, counts as that module)."""
    graph = {}
    for module, source in modules.items():
        graph[module] = {t for t in imported_modules(source, module)
                         if t in modules and t != module and not module.startswith(t + ".")}
    return graph


def cycles(graph):
    """Every import loop, as a list of modules, found by depth-first search."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_loops(modules):
    graph = module_graph(modules)
    # Package __init__ files are empty; a loop through one would be reported as well.
    assert cycles(graph) == []


def test_an_import_loop_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
