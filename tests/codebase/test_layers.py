"""The layers hold (issue 18): where I/O may live, and which layer may import which.

- `scheduling_core/domain` is pure: each module imports in a fresh interpreter without pydantic, azure,
  opentelemetry or httpx, and imports nothing of ours but the domain, the error tree and the ports.
- `scheduling_core/services` never import adapters (they reach I/O through ports wired by bootstrap/).
- `http_api` and `triggers` never import adapters: the composition root (bootstrap/) hands them services.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "scheduling_core" / "domain"
FRAMEWORKS = ("pydantic", "pydantic_core", "azure", "opentelemetry", "httpx")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _modules(folder: Path) -> list[str]:
    return sorted(_module(p) for p in folder.rglob("*.py"))


def _imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, at any depth of the file (function-level imports too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _offending(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        bad = sorted({m for m in _imports(path) if m.startswith(forbidden)})
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize("module", _modules(DOMAIN))
def test_each_domain_module_imports_without_a_framework(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(done.stdout))
    assert sorted(loaded & set(FRAMEWORKS)) == []


def test_the_domain_imports_nothing_of_ours_but_the_domain_errors_and_ports() -> None:
    ours = ("scheduling_core", "bootstrap", "http_api", "triggers", "devstack")
    allowed = ("scheduling_core.domain", "scheduling_core.errors", "scheduling_core.ports")
    found = {
        path: [m for m in modules if not m.startswith(allowed)]
        for path, modules in _offending("scheduling_core/domain", ours).items()
    }
    assert {path: modules for path, modules in found.items() if modules} == {}


def test_services_never_import_adapters_or_the_shell() -> None:
    forbidden = ("scheduling_core.adapters", "bootstrap", "http_api", "triggers", "devstack")
    assert _offending("scheduling_core/services", forbidden) == {}


@pytest.mark.parametrize("shell", ["http_api", "triggers"])
def test_the_shell_never_imports_adapters(shell: str) -> None:
    assert _offending(shell, ("scheduling_core.adapters", "devstack")) == {}


def test_the_probe_sees_a_framework_when_one_is_imported() -> None:
    """The purity probe itself can fail: an adapter module does load httpx."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "scheduling_core.adapters.graph"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "httpx" in json.loads(done.stdout)


def test_the_shell_is_handed_services_and_ports_never_adapters() -> None:
    """Every `Services` attribute http_api and triggers read is typed as a service, a port or a value."""
    import typing

    from bootstrap.composition import Services

    hints = typing.get_type_hints(Services)
    read = set()
    for shell in ("http_api", "triggers"):
        for path in (ROOT / shell).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            read |= set(re.findall(r"(?:services\(\)|\bsvc|\bs)\.([a-z_]+)\b", text))
    typed = {name: hints[name] for name in read if name in hints}
    adapters = {
        name: f"{kind.__module__}.{kind.__qualname__}"
        for name, kind in typed.items()
        if getattr(kind, "__module__", "").startswith("scheduling_core.adapters")
    }
    assert adapters == {}
    assert {"bookings", "settings", "idempotency", "rule_sets"} <= set(typed)  # the scan finds what it reads
