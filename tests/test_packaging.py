"""The built wheel, installed in a clean venv, holds what domaintune reads at run time.

A wheel lacks every file that is not Python unless `[tool.setuptools.package-data]` names it, and
an editable install never shows it: the tests would read the files from the source tree. So the
wheel is built from a copy of the project, installed with `--no-deps` into a fresh venv, and
checked there. The venv gets its dependencies from this test's own environment through a `.pth`
file holding the path of its site-packages: `.pth` files inside a folder added that way are not
processed, so the editable domaintune of this environment is not loaded, only the wheel's.
Nothing is fetched: pip is told to use no index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "domaintune"
DATA = ["config/ready/*.yaml", "report/templates/*", "evaluate/templates/*", "serve/*.html"]
"""The package data domaintune reads at run time, relative to the package."""

IN_THE_VENV = """
import json, sys
from importlib import resources
import domaintune
from domaintune.config import load_config, ready_configs
from domaintune.templating import environment

shipped = {"report/templates": ["report.md.j2", "report.html.j2"],
           "evaluate/templates": ["model_card.md.j2"]}
templates = []
for folder, names in shipped.items():
    loaded = environment(folder)
    for name in names:
        source, path, _ = loaded.loader.get_source(loaded, name)
        loaded.parse(source)
        templates.append(path)
print(json.dumps({
    "prefix": sys.prefix,
    "package": domaintune.__file__,
    "ready": {name: str(path) for name, path in ready_configs().items()},
    "drug_reviews_text_column": load_config("drug-reviews").data.text_column,
    "templates": templates,
    "page": str(resources.files("domaintune.serve") / "page.html"),
}))
"""


def clean_environment() -> dict[str, str]:
    """This process's environment without what would put the source tree on the path, with pip
    kept offline."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(PYTHONNOUSERSITE="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=clean_environment(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def build_wheel(folder: Path) -> Path:
    """The wheel of a copy of the project: building in the source tree would leave build/ there,
    whose stale files a later build would ship."""
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    pip = [sys.executable, "-m", "pip"]
    run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(folder / "dist"), "."],
        source,
    )
    (wheel,) = (folder / "dist").glob("domaintune-*.whl")
    return wheel


def fresh_venv(folder: Path, wheel: Path) -> Path:
    """A venv holding the wheel alone, with this environment's site-packages after its own."""
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], folder)
    python = venv / "bin" / "python"
    run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)],
        folder,
    )
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    theirs = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], folder
    )
    site_packages = Path(theirs.stdout.strip())
    assert site_packages.is_relative_to(venv)
    (site_packages / "project-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return venv


@pytest.mark.slow
def test_the_wheel_ships_the_ready_configs_and_templates_and_runs_from_a_clean_venv(
    tmp_path: Path,
) -> None:
    """Catches a ready config or template left out of the wheel (the configs were once a symlink
    outside the package), and code that finds them in the source tree rather than the package."""
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for pattern in DATA:
        expected = {
            f"domaintune/{path.relative_to(PACKAGE)}"
            for path in PACKAGE.glob(pattern)
            if path.is_file()
        }
        assert expected, f"no {pattern} in the source tree"
        shipped = {name for name in names if fnmatch(name, f"domaintune/{pattern}")}
        assert shipped == expected, pattern

    venv = fresh_venv(tmp_path, wheel)
    result = run([str(venv / "bin" / "python"), "-c", IN_THE_VENV], tmp_path)
    found = json.loads(result.stdout)
    installed = Path(found["prefix"])
    assert installed == venv
    assert Path(found["package"]).is_relative_to(venv), found["package"]
    assert {"airline-sentiment", "drug-reviews"} <= set(found["ready"])
    assert all(Path(path).is_relative_to(venv) for path in found["ready"].values())
    assert found["drug_reviews_text_column"] == "review"
    assert len(found["templates"]) == 3
    assert all(Path(path).is_relative_to(venv) for path in found["templates"])
    assert Path(found["page"]).is_relative_to(venv) and Path(found["page"]).is_file()

    shown = run([str(venv / "bin" / "domaintune"), "config", "show", "drug-reviews"], tmp_path)
    assert "name: drug-reviews" in shown.stdout
