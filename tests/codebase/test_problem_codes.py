"""Problem codes are declared once, in http_api/problems.py (issue 18 item 3): no other module of the
service spells one as a string literal."""

from __future__ import annotations

import ast
from pathlib import Path

from http_api.problems import INTERNAL_ERROR, PROBLEM_TYPES

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "http_api" / "problems.py"


def test_no_module_but_the_catalogue_spells_a_problem_code() -> None:
    codes = {kind.code for kind in PROBLEM_TYPES.values()} | {INTERNAL_ERROR.code}
    spelled = []
    for folder in ("bootstrap", "http_api", "scheduling_core", "triggers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == CATALOGUE:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in codes:
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert spelled == []
