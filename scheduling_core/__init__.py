"""Scheduling core: availability, routing and booking rules for Dynamics 365 teams.

The core is pure Python and knows nothing of Azure Functions. Functional modules
(`intervals`, `availability`, `timezones`, `domain`) hold no I/O; adapters under
`scheduling_core.adapters` implement the ports in `scheduling_core.ports`;
services under `scheduling_core.services` wire ports to the functional core.
"""
