"""pyproject.toml: console scripts that behave like `python -m`, a package list that misses
nothing, and a wheel that installs and finds its shipped models away from the checkout."""

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "pyproject.toml"), "rb") as _f:
    PYPROJECT = tomllib.load(_f)
SCRIPTS = PYPROJECT["project"]["scripts"]
# What each binary says without its required flag.
REQUIRED = {"t2i-train": "workdir", "t2i-export": "export_dir", "t2i-serve": "export_dir",
            "t2i-download": "dataset"}  # serve: --export_dir or --model


def call_script(name, *args, cwd=ROOT, env=None):
    """Runs console script `name` as its generated wrapper does: import, then call."""
    module, function = SCRIPTS[name].split(":")
    code = (f"import sys; sys.argv = ['{name}'] + sys.argv[1:]; "
            f"from {module} import {function}; sys.exit({function}())")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_scripts_are_the_binaries():
    assert set(SCRIPTS) == {"t2i-train", "t2i-sample", "t2i-evaluate", "t2i-export",
                            "t2i-serve", "t2i-download"}
    for name, target in SCRIPTS.items():
        module = target.split(":")[0]
        script = call_script(name, "--help")
        python_m = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=120)
        assert script.returncode == python_m.returncode == 0, (name, script.stderr)
        assert script.stderr == python_m.stderr == "", (name, script.stderr)
        # The same docstring and flags; only the heading of the binary's own flags (the
        # program's path) differs.
        path = os.path.join(ROOT, *module.split(".")) + ".py"
        assert script.stdout.replace(f"\n{name}:\n", f"\n{path}:\n") == python_m.stdout, name
        assert "flags:" in python_m.stdout and len(python_m.stdout.splitlines()) > 10


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_flags_are_marked_as_under_python_m(name):
    p = call_script(name)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: flag"), lines
    assert f"{REQUIRED[name]}=None" in lines[0], lines


def test_the_package_list_holds_every_package():
    setuptools = pytest.importorskip("setuptools")
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set(setuptools.find_packages(ROOT, include=["t2i_tf", "t2i_tf.*"]))
    assert found | {"t2i_tf._models"} == listed
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"t2i_tf._models": "models"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from a copy of the checkout, installed with pip into a folder."""
    pytest.importorskip("setuptools")
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    for name in ("t2i_tf", "models"):
        shutil.copytree(os.path.join(ROOT, name), source / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir"]
    subprocess.run(pip + ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                          str(tmp / "dist"), str(source)], check=True, timeout=300)
    (wheel,) = (tmp / "dist").iterdir()
    subprocess.run(pip + ["install", "-q", "--no-deps", "--target", str(tmp / "site"),
                          str(wheel)], check=True, timeout=300)
    return wheel, tmp / "site"


def test_the_wheel_holds_the_code_the_models_and_the_scripts(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for name, target in SCRIPTS.items():
        assert f"{name} = {target}" in entry_points
    for folder, _, files in os.walk(os.path.join(ROOT, "models")):
        for f in files:
            relative = os.path.relpath(os.path.join(folder, f), ROOT)
            assert "t2i_tf/_" + relative in names, relative
    assert "t2i_tf/data/download.py" in names and "t2i_tf/quiet_start.py" in names
    assert "t2i_tf/serving/static/index.html" in names  # the web page


def test_the_installed_package_finds_its_models(installed, tmp_path):
    _, site = installed
    env = dict(os.environ, PYTHONPATH=str(site))
    code = ("import t2i_tf.training.checkpoint as c; print(c.__file__); "
            "print(c.SHIPPED_MODELS_DIR)")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    module, models = p.stdout.split()
    assert module == str(site / "t2i_tf" / "training" / "checkpoint.py")
    assert models == str(site / "t2i_tf" / "_models")
    assert os.path.isfile(os.path.join(models, "draw_mnist", "weights.npz"))
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       env=dict(env, T2I_MODELS_DIR=str(tmp_path)), text=True, timeout=60)
    assert p.stdout.split()[1] == str(tmp_path)  # $T2I_MODELS_DIR wins
    p = subprocess.run([site / "bin" / "t2i-sample", "--help"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--num_samples" in p.stdout, p.stderr
