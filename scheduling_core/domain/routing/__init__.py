"""Routing: which host (or pool of hosts) a meeting goes to, as a pure function (routing.md).

A rule set is an ordered list of rules. Each rule whose `when` holds proposes
candidates from the already-resolved `RoutingContext`; eligibility filters them;
the first rule left with at least one eligible host wins.

The package is split along what a reader looks for; import each name from the module that owns it:
- `rules`: the rule set (strategies, fairness kinds, territories, eligibility, `noShowWeight`).
- `inputs`: everything `route` reads (the resolved record context, the hosts' profiles, their stats).
- `decisions`: what `route` returns (the winning rule, its ranked pool, a trace per rule tried).
- `skills`: the `skills` text of a request (`"german:3,field-service"`).
- `fairness`: ranking a pool by fairness, and picking from a decision's pool at booking time.
- `engine`: `route` itself (strategies, eligibility, fall-through) and the directory `shortlist`.

Invariants kept here:
- `route` reads nothing but its `RoutingInputs` (no clock, no I/O), and the
  result does not depend on the iteration order of any mapping, nor on the order
  of host lists whose order carries no meaning (owner team members, account team,
  pools): candidates are sorted, and every ranking ends in host id order.
- Every host in a decision's `host_ids` is in the directory, active and passed
  the eligibility filters in force; the first one is the preferred host.
- Rules after the winning rule are not tried; every rule tried has a `RuleTrace`
  saying why it matched or not, and each excluded candidate has exactly one reason.
- Nothing here knows JSON: rule sets are read and written by their admin document
  (`documents.rule_sets`), decisions and their inputs by `documents.routing_decisions`.
"""
