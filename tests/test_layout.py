"""The house's size rules (issue 16), checked on every run: no module of the apps over 500 lines and no
function over 60 (generated migrations aside), so that a newcomer finds one subject per module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "telemetry", "firmware", "realtime")
MODULE_LINES, FUNCTION_LINES = 500, 60


def app_modules() -> list[Path]:
    found = (p for app in APPS for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts)
    return sorted(found)


@pytest.mark.parametrize("module", app_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(module: Path) -> None:
    text = module.read_text()
    assert text.count("\n") <= MODULE_LINES, f"{module.name} has over {MODULE_LINES} lines: split it by subject"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > FUNCTION_LINES
    ]
    assert long == [], f"functions over {FUNCTION_LINES} lines: {', '.join(long)}"
