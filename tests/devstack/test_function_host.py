from __future__ import annotations

import asyncio
import json

import azure.functions as func
import httpx
import pytest

from devstack.function_host import FunctionRouter


def _app() -> func.FunctionApp:
    app = func.FunctionApp()

    @app.route(route="items/{itemId}", methods=["GET", "PUT"])
    def item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(
            json.dumps(
                {
                    "id": req.route_params["itemId"],
                    "q": req.params.get("q"),
                    "method": req.method,
                    "body": req.get_body().decode(),
                }
            )
        )

    @app.route(route="items/special", methods=["GET"])
    def special(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("special")

    return app


def test_route_parameters_query_and_body_reach_the_function() -> None:
    router = FunctionRouter(_app())
    response = router.handle("PUT", "http://x/api/items/42?q=a", {}, b"hello")
    assert json.loads(response.get_body()) == {"id": "42", "q": "a", "method": "PUT", "body": "hello"}


def test_literal_routes_win_over_parameters() -> None:
    assert FunctionRouter(_app()).handle("GET", "http://x/api/items/special").get_body() == b"special"


def test_unknown_paths_are_404_and_wrong_methods_405() -> None:
    router = FunctionRouter(_app())
    assert router.handle("GET", "http://x/api/nothing").status_code == 404
    assert router.handle("GET", "http://x/items/1").status_code == 404  # no route prefix
    assert router.handle("DELETE", "http://x/api/items/1").status_code == 405


def test_timer_functions_are_found_with_their_period() -> None:
    from devstack.function_host import timer_functions

    app = func.FunctionApp()

    @app.timer_trigger(arg_name="t", schedule="*/30 * * * * *")
    def fast(t: func.TimerRequest) -> None: ...

    @app.timer_trigger(arg_name="t", schedule="0 */5 * * * *")
    def slow(t: func.TimerRequest) -> None: ...

    assert sorted((t.name, t.every_seconds) for t in timer_functions(app)) == [("fast", 30), ("slow", 300)]


def _timer_app(calls: list[str]) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="*/30 * * * * *")
    def relay(timer: func.TimerRequest) -> None:
        calls.append("relay")

    @app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
    def broken(timer: func.TimerRequest) -> None:
        raise RuntimeError("boom")

    return app


def test_the_local_host_runs_a_timer_function_on_request_and_answers_after_it_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bootstrap.settings import forget_settings
    from devstack.localhost import create_app

    monkeypatch.setenv("ADMIN_API_KEY", "admin")
    forget_settings()  # read once: read again with this key, and again after the test
    monkeypatch.setattr("bootstrap.settings._current", None)
    calls: list[str] = []
    app = create_app(FunctionRouter(_timer_app(calls)))
    admin = {"x-functions-key": "admin"}

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
            assert (await client.post("/admin/functions/relay")).status_code == 401
            wrong = await client.post("/admin/functions/relay", headers={"x-functions-key": "nope"})
            assert wrong.status_code == 403
            assert calls == []
            assert (await client.post("/admin/functions/relay", headers=admin)).status_code == 202
            assert calls == ["relay"]
            failed = await client.post("/admin/functions/broken", headers=admin)
            assert failed.status_code == 500 and "boom" in failed.text
            assert (await client.post("/admin/functions/nothing", headers=admin)).status_code == 404
            bus = (await client.get("/_host/bus", headers=admin)).json()
            assert bus == {
                "topic": "booking-events",
                "functions": [],
                "scheduled": 0,
                "queues": {"graph-changes": 0, "dynamics-changes": 0},
                "deadLetters": [],
            }

    asyncio.run(scenario())


def test_a_route_parameter_keeps_a_tab_or_line_break_instead_of_changing_the_route() -> None:
    router = FunctionRouter(_app())
    response = router.handle("PUT", "http://x/api/items/\t", {}, b"")
    assert json.loads(response.get_body())["id"] == "\t"
    assert json.loads(router.handle("GET", "http://x/api/items/a\nb").get_body())["id"] == "a\nb"
