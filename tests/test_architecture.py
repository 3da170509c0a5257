"""The house rules, checked: layers point one way (import-linter), mypy clean, small modules, thin commands."""

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cogaze"


def test_layers_point_one_way():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports not installed: `pip install -e .[dev]` (scripts/install.sh) installs import-linter")
    env = {"PYTHONPATH": str(SRC.parent), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    proc = subprocess.run([exe], cwd=SRC.parents[1], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_mypy_clean(tmp_path):
    """`mypy` (configured in pyproject.toml) finds no type error in src/cogaze."""
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy not installed: `pip install -e .[dev]` (scripts/install.sh) installs it")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")], cwd=SRC.parents[1],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_no_module_over_400_lines():
    big = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not big, big


def test_commands_define_no_class():
    for path in [*SRC.joinpath("commands").glob("*.py"), SRC / "cli.py"]:
        classes = [n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)]
        assert not classes, (path.name, classes)


def test_public_api_at_the_root():
    import cogaze
    import cogaze.api

    assert cogaze.load_encoder is cogaze.api.load_encoder and "DataSource" in cogaze.api.__all__
    with pytest.raises(AttributeError):
        cogaze.not_a_name  # noqa: B018


def test_wheel_ships_configs_and_prompts(tmp_path):
    """A non-editable install finds its configs and prompts as package data, from any folder."""
    import zipfile

    repo = SRC.parents[1]
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(repo),
                           "-w", str(tmp_path / "whl")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "whl").glob("cogaze-*.whl")
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = ("from cogaze.resources import config_path; from cogaze.tasks.zeroshot import load_prompts; "
            "print(config_path('pretrain/phantom-tiny.yaml')); print(len(load_prompts('paper')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    path, n = run.stdout.split()
    assert path.startswith(str(target)) and int(n) > 0
