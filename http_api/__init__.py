"""The imperative HTTP shell: parse and validate with pydantic, call one service, render.

Blueprints: `admin` (configuration), `availability` (slots), `operations`
(health, OpenAPI). `endpoint` wraps every HTTP function with key checks and the
mapping from the service's error tree to RFC 7807 problems.
"""
