"""Fixtures of the proof suites: a fresh stack per test (own simulators, own table prefix, own host).

Each suite runs in two lengths: the `proof` marker (fast, part of `make test`) and the `soak` marker
(full length, `make soak`; deselected by default through `-m "not soak"` in pyproject's addopts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from devstack import dataverse_sim, graph_sim
from tests.fixtures.dataverse import DataverseSim
from tests.fixtures.graph import GraphSim
from tests.proof.stack import ProofStack

StackFactory = Callable[..., ProofStack]


def _starter(exits: ExitStack, azurite: Any) -> StackFactory:
    def start(*, notifications: bool = False, **settings: str) -> ProofStack:
        graph = exits.enter_context(GraphSim.serve(graph_sim.create_app()))
        dataverse = exits.enter_context(DataverseSim.serve(dataverse_sim.create_app()))
        stack = ProofStack(
            azurite=azurite, graph=graph, dataverse=dataverse, settings=settings, notifications=notifications
        )
        exits.callback(stack.close)
        stack.start_host()
        return stack

    return start


@pytest.fixture
def proof_stack(azurite: Any) -> Iterator[StackFactory]:
    """`proof_stack(notifications=False, **settings)`: Graph and Dataverse simulators, and the local host
    started on them (with `notifications`, Graph change notifications are delivered to it)."""
    with ExitStack() as exits:
        yield _starter(exits, azurite)


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a suite's numbers to the terminal even when pytest captures output."""

    def emit(text: str) -> None:
        with capsys.disabled():
            print("\n" + text, flush=True)

    return emit
