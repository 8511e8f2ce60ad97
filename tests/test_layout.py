"""The package's layout holds (docs/design.md): the core knows neither Gradio nor Spaces, the library part knows no
web, the core imports its own modules up front (no circle hidden in a function), modules stay small, and the
benchmarks do not import the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .helpers import ROOT

PACKAGE = ROOT / "genre_classifier"


def imported(path: Path) -> set[str]:
    """The absolute names a module imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize(
    "part, forbidden",
    [
        ("core", ("gradio", "spaces", "genre_classifier.web", "genre_classifier.library", "beets", "mediafile")),
        ("library", ("gradio", "spaces", "genre_classifier.web")),
    ],
)
def test_each_part_imports_only_what_is_below_it(part, forbidden):
    for path in (PACKAGE / part).glob("*.py"):
        bad = {name for name in imported(path) if name.startswith(forbidden)}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_core_imports_its_own_modules_up_front():
    """An import of the package's own modules inside a function would hide a circle (or an arrow the layout forbids)
    until it runs. A third-party import inside a function (torch, transformers, openvino, kept out of start-up) is
    told apart by its name: only relative imports and `genre_classifier.*` are the package's own."""
    for path in (PACKAGE / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own = [
                    sub.lineno
                    for sub in ast.walk(node)
                    if isinstance(sub, (ast.Import, ast.ImportFrom))
                    and (
                        getattr(sub, "level", 0) or any(name.startswith("genre_classifier") for name in own_names(sub))
                    )
                ]
                assert not own, f"{path.relative_to(ROOT)}:{own[0]} imports the package's own module in {node.name}"


def own_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]


def test_no_module_is_over_400_lines():
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "train").glob("*.py"), *(ROOT / "beetsplug").glob("*.py")]:
        assert len(path.read_text().splitlines()) <= 400, path.relative_to(ROOT)


def test_the_benchmarks_do_not_import_the_tests():
    for path in (ROOT / "benchmarks").glob("*.py"):
        assert not {name for name in imported(path) if name.startswith("tests")}, path.name
