"""The installed package carries ``py.typed`` (PEP 561), so that a user's type checker
reads annokit's hints."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_py_typed_is_found_beside_the_package():
    marker = resources.files("annokit").joinpath("py.typed")
    assert marker.is_file()
    assert marker.read_text(encoding="utf-8") == ""  # a marker: PEP 561 asks for no content


@pytest.mark.slow
def test_the_wheel_ships_py_typed(tmp_path):
    """Built from a copy of the project (the checkout gets no build/ or egg-info)."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "annokit", source / "annokit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    wheel, = (tmp_path / "dist").glob("annokit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "annokit/py.typed" in names
    assert "annokit/split.py" in names


def _pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_mypy_checks_every_annokit_module():
    """No [tool.mypy] override ignores the errors of annokit's own code: `mypy annokit` in
    .ci/run covers the whole package."""
    ignored = [m for o in _pyproject()["tool"]["mypy"]["overrides"] if o.get("ignore_errors")
               for m in o["module"]]
    assert not [m for m in ignored if m.split(".")[0] == "annokit"], ignored
