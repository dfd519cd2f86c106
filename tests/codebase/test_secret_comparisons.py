"""Secrets are compared in constant time everywhere in the service (a scan of the source)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Names that hold (or are compared with) a shared secret, key, token or signature.
SECRET_NAME = re.compile(
    r"secret|api_?key|admin_?key|functions_key|presented|client_?state|signature|password|token", re.I
)
EXEMPT_NAMES = re.compile(r"continuation|validation_?token|token_type|tokens$", re.I)


def _names(node: ast.AST) -> Iterator[str]:
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            yield child.id
        elif isinstance(child, ast.Attribute):
            yield child.attr


def _service_sources() -> Iterator[Path]:
    for folder in ("bootstrap", "http_api", "scheduling_core", "triggers"):
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield ROOT / "function_app.py"


def test_no_secret_is_compared_with_equality_or_membership() -> None:
    """`==`, `!=`, `in` on a secret leak its length of matching prefix in time; use hmac.compare_digest."""
    offenders = []
    for path in _service_sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
                continue
            secretish = [n for n in _names(node) if SECRET_NAME.search(n) and not EXEMPT_NAMES.search(n)]
            if secretish:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


def test_every_module_that_checks_a_shared_secret_uses_compare_digest() -> None:
    for relative in ("http_api/auth.py", "http_api/dynamics_webhook.py"):
        source = (ROOT / relative).read_text()
        assert "hmac.compare_digest(" in source, relative
