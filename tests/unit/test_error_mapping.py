"""Every error the service raises on purpose maps to a problem code, and none to a 500 (issue 13)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import typing
from typing import Any

import pytest

import bootstrap
import http_api
import scheduling_core
import triggers
from http_api.problems import to_problem
from scheduling_core.errors import SchedulingError


def _import_everything() -> None:
    for package in (bootstrap, scheduling_core, http_api, triggers):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


def _subclasses(root: type[SchedulingError]) -> list[type[SchedulingError]]:
    found, todo = [], [root]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _argument(parameter: inspect.Parameter) -> Any:
    annotation = str(parameter.annotation)
    if "int" in annotation:
        return 400
    if "tuple" in annotation:
        return ()
    if "Mapping" in annotation or "dict" in annotation:
        return {}
    if "str" in annotation:
        return "detail"
    return None


def _instance(cls: type[SchedulingError]) -> SchedulingError:
    signature = inspect.signature(cls.__init__)
    hints = typing.get_type_hints(cls.__init__)
    args, kwargs = [], {}
    for name, parameter in list(signature.parameters.items())[1:]:
        hint = hints.get(name)
        if isinstance(hint, type) and issubclass(hint, SchedulingError):
            # An error that wraps another (e.g. MailboxUnavailable wraps Graph's refusal).
            value: Any = _instance(hint)
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                kwargs[name] = value
            else:
                args.append(value)
            continue
        if parameter.default is not inspect.Parameter.empty or parameter.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[name] = _argument(parameter)
        else:
            args.append(_argument(parameter))
    return cls(*args, **kwargs)


_import_everything()
ERRORS = _subclasses(SchedulingError)


def test_the_walk_finds_the_error_tree_and_the_adapters_refusals() -> None:
    names = {cls.__name__ for cls in ERRORS}
    assert {"InvalidRequest", "UpstreamRejected", "GraphRequestRejected", "DataverseRequestRejected"} <= names
    assert len(ERRORS) >= 15


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__qualname__)
def test_no_error_of_the_service_maps_to_a_500(cls: type[SchedulingError]) -> None:
    problem = to_problem(_instance(cls))
    assert problem.kind.status != 500 and problem.kind.code != "internal-error", (cls, problem.kind)
    assert 400 <= problem.kind.status < 600


def test_upstream_refusals_are_502_upstream_rejected() -> None:
    from scheduling_core.errors import DataverseRequestRejected, GraphRequestRejected

    for cls in (GraphRequestRejected, DataverseRequestRejected):
        problem = to_problem(cls(status_code=400, code="BadRequest", message="no", request="GET /x"))
        assert (problem.kind.status, problem.kind.code) == (502, "upstream-rejected")


def _exception_classes_defined_in_the_service() -> list[type[BaseException]]:
    found = []
    for package in (bootstrap, scheduling_core, http_api, triggers):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            found.extend(
                obj
                for obj in vars(module).values()
                if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name
            )
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_every_exception_the_service_defines_is_in_the_one_tree_of_errors_py() -> None:
    strays = [
        f"{c.__module__}.{c.__qualname__}"
        for c in _exception_classes_defined_in_the_service()
        if c.__module__ != "scheduling_core.errors" or not issubclass(c, SchedulingError)
    ]
    assert strays == []


def test_the_tree_in_the_errors_docstring_names_every_error() -> None:
    import scheduling_core.errors as errors_module

    drawn = set(re.findall(r"[├└]── (\w+)", errors_module.__doc__ or "")) | {"SchedulingError"}
    assert drawn == {cls.__name__ for cls in ERRORS}
