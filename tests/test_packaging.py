"""The `workflow` extra installs everything the README's commands need, without the test tools."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")


def _wanted(requirements: list[str], extras: set[str]) -> list[Requirement]:
    """The requirements that apply when ``extras`` are asked for (markers evaluated on this machine)."""
    wanted = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is None or any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""}):
            wanted.append(requirement)
    return wanted


def _installed_closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution a fresh `pip install` of ``requirements`` brings in, read from the installed metadata."""
    seen: set[str] = set()
    pending = list(requirements)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        pending += _wanted(importlib.metadata.distribution(name).requires or [], set(requirement.extras))
    return seen


def test_workflow_extra_brings_what_the_report_needs():
    """`snakemake --report` needs its `reports` extra (pygments); pytest brings pygments too, which hid its absence."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    readme_install = _wanted(project["dependencies"], set()) + [Requirement(r) for r in project["optional-dependencies"]["workflow"]]
    installed = _installed_closure(readme_install)
    report_needs = _wanted(importlib.metadata.distribution("snakemake").requires or [], {"reports"})
    missing = sorted({canonicalize_name(r.name) for r in report_needs} - installed)
    assert "pygments" in {canonicalize_name(r.name) for r in report_needs}
    assert not missing, f"pip install -e '.[workflow]' does not install {missing}, which snakemake --report needs"
    assert "pytest" not in installed  # the check does not lean on the test extra
