"""The HTTP contract and the function table, byte for byte, against recorded snapshots.

Restructuring the code (issue 18) must change neither what `/openapi.json` serves nor which functions
the app registers with which bindings. When a change is meant to alter the contract, regenerate the
snapshots deliberately (`PYTHONPATH=. .venv/bin/python -m tests.contract.snapshots`) and review the diff.
"""

from __future__ import annotations

from tests.contract.snapshots import FUNCTIONS_SNAPSHOT, OPENAPI_SNAPSHOT, function_table, served_openapi


def test_the_served_openapi_document_is_byte_identical_to_the_recorded_one() -> None:
    assert served_openapi() == OPENAPI_SNAPSHOT.read_bytes()


def test_the_registered_functions_and_their_bindings_are_the_recorded_ones() -> None:
    assert function_table() == FUNCTIONS_SNAPSHOT.read_text(encoding="utf-8")
