"""The service's table of contents: every trigger, each delegating to one blueprint handler.

HTTP (route prefix /api)
  admin/hosts[/{hostId}]            GET, PUT, DELETE   http_api.admin
  admin/event-types[/{slug}]        GET, PUT, DELETE   http_api.admin
  slots                             GET                http_api.availability
  health, openapi.json              GET                http_api.operations
"""

from __future__ import annotations

import azure.functions as func

from http_api import admin, availability, operations

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(admin.bp)
app.register_functions(availability.bp)
app.register_functions(operations.bp)
