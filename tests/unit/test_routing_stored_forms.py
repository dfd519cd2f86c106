"""Routing decisions stored before issue 18 read back equal, and new ones are stored in the same form.

`STORED` is what the codec of `scheduling_core/domain/routing.py` wrote at commit 38c0030, before the rule
set's JSON went through `RuleSetDoc` (docs/decisions.md, "One codec per shape: rule sets (issue 18)"):
Table storage holds decisions in this form, and `GET /routing/decisions/{id}` returns it as stored.
"""

# ruff: noqa: E501  (STORED is stored JSON verbatim; its long reasons are not ours to wrap)

from __future__ import annotations

import json
from datetime import UTC, datetime
from fractions import Fraction

from scheduling_core.documents.routing_decisions import (
    decision_from_json,
    decision_to_json,
    inputs_from_json,
    inputs_to_json,
)
from scheduling_core.domain.matching import MatchSettings
from scheduling_core.domain.routing.engine import route
from scheduling_core.domain.routing.inputs import HostProfile, HostStats, RoutingContext, RoutingInputs
from scheduling_core.domain.routing.rules import (
    Eligibility,
    Fairness,
    Rule,
    RuleSet,
    Strategy,
    TerritoryMatch,
)

STORED = """
{
 "decision": {
  "ruleSet": "sales",
  "rule": "field skills",
  "strategy": "skills",
  "fairness": "weighted",
  "noShowWeight": 0.0,
  "hostIds": [
   "ana"
  ],
  "surplus": {
   "ana": 4
  },
  "reason": "rule 'field skills' (skills) chose ana: needs field-service:3, german:1; 4 host(s) qualify; 1 eligible, ranked by skill surplus then weighted",
  "trace": [
   {
    "rule": "lead owner",
    "strategy": "owner",
    "applied": false,
    "candidates": [],
    "eligible": [],
    "excluded": {},
    "reason": "record type opportunity is not lead"
   },
   {
    "rule": "big accounts",
    "strategy": "accountTeam",
    "applied": true,
    "candidates": [
     "ben"
    ],
    "eligible": [],
    "excluded": {
     "ben": "out of office for the whole range"
    },
    "reason": "record type opportunity; answer companySize is 1000+; 1 account team member(s) with role CSM; none of 1 candidate(s) is eligible"
   },
   {
    "rule": "territory",
    "strategy": "territory",
    "applied": true,
    "candidates": [],
    "eligible": [],
    "excluded": {},
    "reason": "no territory given, and none of the rule's territories matches country FR and postal code 75001"
   },
   {
    "rule": "field skills",
    "strategy": "skills",
    "applied": true,
    "candidates": [
     "ana",
     "ben",
     "cy",
     "eve"
    ],
    "eligible": [
     "ana"
    ],
    "excluded": {
     "ben": "out of office for the whole range",
     "cy": "no availability within 14 days",
     "eve": "inactive"
    },
    "reason": "needs field-service:3, german:1; 4 host(s) qualify; 1 eligible, ranked by skill surplus then weighted"
   }
  ],
  "answers": {
   "companySize": "1000+"
  }
 },
 "inputs": {
  "ruleSetId": "sales",
  "ruleSet": {
   "rules": [
    {
     "name": "lead owner",
     "when": {
      "recordType": [
       "lead"
      ]
     },
     "strategy": "owner",
     "fairness": "leastRecentlyBooked"
    },
    {
     "name": "big accounts",
     "when": {
      "recordType": [
       "account",
       "opportunity"
      ],
      "answers.companySize": [
       "1000+",
       "201-1000"
      ]
     },
     "strategy": "accountTeam",
     "role": "CSM",
     "fairness": "leastRecentlyBooked"
    },
    {
     "name": "territory",
     "strategy": "territory",
     "territories": {
      "DACH": {
       "countries": [
        "AT",
        "CH",
        "DE"
       ],
       "postalPrefixes": []
      },
      "US-West": {
       "countries": [],
       "postalPrefixes": [
        "9",
        "83"
       ]
      }
     },
     "fairness": "balanced",
     "noShowWeight": 0.3
    },
    {
     "name": "field skills",
     "strategy": "skills",
     "require": {
      "field-service": 3,
      "german": 1
     },
     "fairness": "weighted",
     "noShowWeight": 0.0
    },
    {
     "name": "fallback",
     "strategy": "roundRobin",
     "pool": [
      "h3",
      "h1",
      "h2"
     ],
     "fairness": "leastRecentlyBooked"
    }
   ],
   "eligibility": {
    "excludeOutOfOffice": true,
    "respectDailyCaps": false,
    "requireAvailabilityWithinDays": 14
   },
   "matching": {
    "byContactEmail": true,
    "byLeadEmail": false,
    "byAccountDomain": true,
    "createLead": true
   }
  },
  "context": {
   "recordType": "opportunity",
   "recordId": "7f3c2a10-0000-4000-8000-000000000001",
   "ownerHostIds": [
    "cy"
   ],
   "ownerNote": null,
   "accountTeam": {
    "AE": [
     "dee",
     "ana"
    ],
    "CSM": [
     "ben"
    ]
   },
   "territory": null,
   "country": "FR",
   "postalCode": "75001",
   "skills": {
    "german": 1
   },
   "shortlists": {
    "field skills": [
     "ana",
     "ben",
     "eve",
     "cy"
    ]
   },
   "shortlistTotals": {
    "field skills": 4
   },
   "answers": {
    "budget": "large",
    "companySize": "1000+"
   }
  },
  "hosts": {
   "ana": {
    "skills": {
     "field-service": 3,
     "german": 5
    },
    "territories": [
     "DACH"
    ]
   },
   "ben": {
    "skills": {
     "field-service": 5,
     "german": 2
    },
    "weight": 50
   },
   "cy": {
    "skills": {
     "field-service": 4,
     "german": 3
    },
    "territories": [
     "US-West"
    ],
    "maxMeetingsPerDay": 4
   },
   "dee": {
    "skills": {
     "field-service": 2
    }
   },
   "eve": {
    "active": false,
    "skills": {
     "field-service": 3,
     "german": 1
    }
   }
  },
  "stats": {
   "ana": {
    "lastBookedAt": "2026-11-20T09:30:00+00:00",
    "bookingsLast30Days": 4,
    "discountedLast30Days": 1,
    "assignments": 7,
    "discountedAssignments": 2
   },
   "ben": {
    "outOfOfficeWholeRange": true
   },
   "cy": {
    "assignments": 1,
    "bookingsOnRequestedDay": 2,
    "availableWithinDays": false
   }
  },
  "now": "2026-11-24T12:00:00+00:00"
 }
}
"""

RULE_SET = RuleSet(
    id="sales",
    rules=(
        Rule(name="lead owner", strategy=Strategy.OWNER, when_record_types=frozenset({"lead"})),
        Rule(
            name="big accounts",
            strategy=Strategy.ACCOUNT_TEAM,
            when_record_types=frozenset({"account", "opportunity"}),
            when_answers={"companySize": frozenset({"1000+", "201-1000"})},
            role="CSM",
        ),
        Rule(
            name="territory",
            strategy=Strategy.TERRITORY,
            territories={
                "DACH": TerritoryMatch(countries=frozenset({"AT", "CH", "DE"})),
                "US-West": TerritoryMatch(postal_prefixes=("9", "83")),
            },
            fairness=Fairness.BALANCED,
            no_show_weight=Fraction(3, 10),
        ),
        Rule(
            name="field skills",
            strategy=Strategy.SKILLS,
            require={"field-service": 3, "german": 1},
            fairness=Fairness.WEIGHTED,
            no_show_weight=Fraction(0),
        ),
        Rule(name="fallback", strategy=Strategy.ROUND_ROBIN, pool=("h3", "h1", "h2")),
    ),
    eligibility=Eligibility(
        exclude_out_of_office=True, respect_daily_caps=False, require_availability_within_days=14
    ),
    matching=MatchSettings(
        by_contact_email=True, by_lead_email=False, by_account_domain=True, create_lead=True
    ),
)

INPUTS = RoutingInputs(
    rule_set=RULE_SET,
    context=RoutingContext(
        record_type="opportunity",
        record_id="7f3c2a10-0000-4000-8000-000000000001",
        owner_host_ids=("cy",),
        account_team={"AE": ("dee", "ana"), "CSM": ("ben",)},
        country="FR",
        postal_code="75001",
        skills={"german": 1},
        shortlists={"field skills": ("ana", "ben", "eve", "cy")},
        shortlist_totals={"field skills": 4},
        answers={"budget": "large", "companySize": "1000+"},
    ),
    hosts={
        "ana": HostProfile(id="ana", skills={"field-service": 3, "german": 5}, territories=("DACH",)),
        "ben": HostProfile(id="ben", skills={"field-service": 5, "german": 2}, weight=50),
        "cy": HostProfile(
            id="cy",
            skills={"field-service": 4, "german": 3},
            territories=("US-West",),
            max_meetings_per_day=4,
        ),
        "dee": HostProfile(id="dee", skills={"field-service": 2}),
        "eve": HostProfile(id="eve", active=False, skills={"field-service": 3, "german": 1}),
    },
    stats={
        "ana": HostStats(
            last_booked_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
            bookings_last_30_days=4,
            discounted_last_30_days=1,
            assignments=7,
            discounted_assignments=2,
        ),
        "ben": HostStats(out_of_office_whole_range=True),
        "cy": HostStats(assignments=1, bookings_on_requested_day=2, available_within_days=False),
    },
    now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
)


def test_inputs_stored_before_issue_18_read_back_equal() -> None:
    assert inputs_from_json(json.loads(STORED)["inputs"]) == INPUTS


def test_a_decision_stored_before_issue_18_reads_back_equal_and_replays_the_same() -> None:
    stored = json.loads(STORED)
    decision = decision_from_json(stored["decision"])
    assert (decision.rule, decision.host_ids, decision.no_show_weight) == ("field skills", ("ana",), 0)
    assert route(inputs_from_json(stored["inputs"])) == decision


def test_new_decisions_are_stored_in_the_same_form_byte_for_byte() -> None:
    decision = route(INPUTS)
    again = {"decision": decision_to_json(decision), "inputs": inputs_to_json(INPUTS)}
    assert json.dumps(again, indent=1) == STORED.strip()
