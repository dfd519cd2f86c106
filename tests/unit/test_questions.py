"""Questions on event types and `when` conditions on their answers (routing.md, "Conditions on answers")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from scheduling_core.documents.config import EventTypeDoc
from scheduling_core.documents.routing_decisions import (
    decision_from_json,
    decision_to_json,
    inputs_from_json,
    inputs_to_json,
)
from scheduling_core.documents.rule_sets import RuleSetDoc
from scheduling_core.domain.questions import answers_from_query, checked_answers
from scheduling_core.domain.routing.engine import route
from scheduling_core.domain.routing.inputs import RoutingContext, RoutingInputs
from scheduling_core.domain.routing.rules import RuleSet
from scheduling_core.domain.values import Host, LocalTimeRange, WorkingHoursRule
from scheduling_core.errors import InvalidRequest

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOURS = (WorkingHoursRule(days=frozenset({"mon"}), hours=LocalTimeRange(start_minute=540, end_minute=1020)),)
HOSTS = {
    h: Host(id=h, email=f"{h}@contoso.com", display_name=h, time_zone="UTC", working_hours=HOURS)
    for h in ("enterprise-rep", "mid-rep", "smb-rep")
}
RULES = RuleSetDoc.model_validate(
    {
        "rules": [
            {
                "name": "enterprise in DACH",
                "when": {"answers.companySize": ["201-1000", "1000+"], "answers.region": ["DACH"]},
                "strategy": "roundRobin",
                "pool": ["enterprise-rep"],
            },
            {
                "name": "mid-market",
                "when": {"answers.companySize": ["51-200"]},
                "strategy": "roundRobin",
                "pool": ["mid-rep"],
            },
            {"name": "fallback", "strategy": "roundRobin", "pool": ["smb-rep"]},
        ]
    }
).to_domain("forms")


def _route(answers: dict[str, str], rule_set: RuleSet = RULES) -> Any:
    context = RoutingContext(answers=answers)
    return route(RoutingInputs(rule_set=rule_set, context=context, hosts=HOSTS, now=NOW))


@pytest.mark.parametrize("size", ["201-1000", "1000+"])
def test_any_value_of_a_when_list_satisfies_that_key(size: str) -> None:
    decision = _route({"companySize": size, "region": "DACH"})
    assert (decision.rule, decision.host_ids) == ("enterprise in DACH", ("enterprise-rep",))
    assert decision.answers == {"companySize": size, "region": "DACH"}


def test_every_key_of_when_must_hold() -> None:
    decision = _route({"companySize": "1000+", "region": "Nordics"})
    assert (decision.rule, decision.host_ids) == ("fallback", ("smb-rep",))
    assert decision.trace[0].reason == "answer region is Nordics, not DACH"
    assert decision.trace[1].reason == "answer companySize is 1000+, not 51-200"


def test_an_unanswered_condition_does_not_hold_and_the_decision_records_it() -> None:
    decision = _route({"companySize": "51-200"})
    assert decision.rule == "mid-market"
    assert decision.trace[0].reason == "answer companySize is 51-200, not 1000+ or 201-1000"
    assert decision.answers == {"companySize": "51-200", "region": None}


def test_answers_and_the_answers_used_survive_the_stored_forms() -> None:
    inputs = RoutingInputs(
        rule_set=RULES,
        context=RoutingContext(answers={"companySize": "1000+", "region": "DACH"}),
        hosts=HOSTS,
        now=NOW,
    )
    decision = route(inputs)
    assert route(inputs_from_json(inputs_to_json(inputs))) == decision
    assert decision_from_json(decision_to_json(decision)) == decision
    assert RuleSetDoc.from_domain(RULES).model_dump(by_alias=True)["rules"][0]["when"] == {
        "recordType": None,
        "answers.companySize": ["1000+", "201-1000"],
        "answers.region": ["DACH"],
    }


def test_record_type_and_answers_both_must_hold() -> None:
    both = RuleSetDoc.model_validate(
        {
            "rules": [
                {
                    "name": "big leads",
                    "when": {"recordType": ["lead"], "answers.companySize": ["1000+"]},
                    "strategy": "roundRobin",
                    "pool": ["enterprise-rep"],
                },
                {"name": "fallback", "strategy": "roundRobin", "pool": ["smb-rep"]},
            ]
        }
    ).to_domain("both")
    lead = RoutingContext(record_type="lead", answers={"companySize": "1000+"})
    account = RoutingContext(record_type="account", answers={"companySize": "1000+"})
    assert route(RoutingInputs(rule_set=both, context=lead, hosts=HOSTS, now=NOW)).rule == "big leads"
    assert route(RoutingInputs(rule_set=both, context=account, hosts=HOSTS, now=NOW)).rule == "fallback"


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"answers.size": []}, "'answers.size' must be a list of 1 to 50 answer values"),
        ({"answers.size": "1000+"}, "'answers.size' must be a list"),
        ({"companySize": ["1"]}, "rules.0.when.companySize\n  Extra inputs are not permitted"),
        ({}, "give recordType or at least one answers.<question id> condition"),
    ],
)
def test_bad_when_conditions_are_refused(when: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RuleSetDoc.model_validate(
            {"rules": [{"name": "r", "when": when, "strategy": "roundRobin", "pool": ["h"]}]}
        )
    assert message in str(caught.value)


QUESTIONS = [
    {
        "id": "companySize",
        "label": "Company size",
        "kind": "select",
        "options": ["1-50", "1000+"],
        "required": True,
    },
    {"id": "work", "label": "Work email", "kind": "email"},
    {"id": "phone", "label": "Phone", "kind": "phone"},
    {"id": "seats", "label": "Seats", "kind": "number"},
    {"id": "notes", "label": "Notes", "kind": "text"},
]


def _event_type(questions: list[dict[str, Any]]) -> Any:
    return EventTypeDoc.model_validate(
        {"title": "Demo", "durationMinutes": 30, "questions": questions}
    ).to_domain("demo")


def test_questions_round_trip_through_the_event_type_document() -> None:
    doc = EventTypeDoc.model_validate({"title": "Demo", "durationMinutes": 30, "questions": QUESTIONS})
    assert EventTypeDoc.from_domain(doc.to_domain("demo")) == doc


@pytest.mark.parametrize(
    ("questions", "message"),
    [
        ([QUESTIONS[1], QUESTIONS[1]], "question ids must be unique: questions.1.id repeats 'work'"),
        ([{"id": "a", "label": "A", "kind": "select"}], "a select question needs at least one option"),
        (
            [{"id": "a", "label": "A", "kind": "select", "options": []}],
            "a select question needs at least one option",
        ),
        (
            [{"id": "a", "label": "A", "kind": "text", "options": ["x"]}],
            "options are only for select questions",
        ),
        ([{"id": "a", "label": "A", "kind": "date"}], "questions.0.kind"),
        ([{"id": "a b", "label": "A", "kind": "text"}], "questions.0.id"),
    ],
)
def test_bad_questions_are_refused(questions: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _event_type(questions)
    assert message in str(caught.value)


def test_answers_are_checked_per_kind_and_name_their_field() -> None:
    event_type = _event_type(QUESTIONS)
    good = {
        "companySize": "1000+",
        "work": "jo@fabrikam.com",
        "phone": "+49 (30) 1234-56",
        "seats": 12,
        "notes": " hi ",
    }
    assert checked_answers(event_type, good | {"extra": "dropped"}, require=True) == {
        "companySize": "1000+",
        "work": "jo@fabrikam.com",
        "phone": "+49 (30) 1234-56",
        "seats": "12",
        "notes": "hi",
    }
    bad = {"companySize": "huge", "work": "jo", "phone": "call me", "seats": "many", "notes": ["x"]}
    with pytest.raises(InvalidRequest) as caught:
        checked_answers(event_type, bad, require=True)
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("answers.companySize", "must be one of: 1-50, 1000+"),
        ("answers.work", "must be an email address"),
        ("answers.phone", "must be a phone number (digits, optionally +, spaces, dots, dashes, brackets)"),
        ("answers.seats", "must be a number"),
        ("answers.notes", "must be text or a number"),
    ]


def test_a_required_question_is_demanded_only_when_asked_to() -> None:
    event_type = _event_type(QUESTIONS)
    assert checked_answers(event_type, {"companySize": "  "}, require=False) == {}
    with pytest.raises(InvalidRequest) as caught:
        checked_answers(event_type, {"companySize": "  "}, require=True)
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("answers.companySize", "required: Company size")
    ]


def test_answers_come_from_dotted_query_parameters() -> None:
    assert answers_from_query({"answers.companySize": "1000+", "answers.": "x", "recordId": "r"}) == {
        "companySize": "1000+"
    }
