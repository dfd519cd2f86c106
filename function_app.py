"""The service's table of contents: every trigger, each delegating to one blueprint handler.

HTTP (route prefix /api)
  admin/hosts[/{hostId}]            GET, PUT, DELETE   http_api.admin
  admin/event-types[/{slug}]        GET, PUT, DELETE   http_api.admin
  admin/hosts/{hostId}/reassign     POST               http_api.team
  slots, slots/explain              GET                http_api.availability
  holds, holds/{holdId}             POST, DELETE       http_api.bookings
  bookings[/{bookingId}]            GET, POST          http_api.bookings
  bookings/{bookingId}/reschedule   POST               http_api.bookings
  bookings/{bookingId}/cancel       POST               http_api.bookings
  admin/routing[/{ruleSetId}]       GET, PUT, DELETE   http_api.routing
  routing/decisions[/{decisionId}]  GET                http_api.routing
  routing/fairness                  GET                http_api.fairness
  health, openapi.json              GET                http_api.operations
  admin/reconcile                   POST               http_api.reconcile
  dynamics/webhook                  POST               http_api.dynamics_webhook
  graph/notifications, graph/lifecycle  POST           http_api.graph_callbacks
  admin/webhooks[/{webhookId}]      GET, PUT, DELETE   http_api.webhook_subscriptions
  admin/webhooks/{id}/deliveries    GET                http_api.webhook_subscriptions
  book/{slug}, book/assets/{name}   GET (no key)       http_api.booking_page
  book/{slug}/slots|holds|bookings  GET, POST, DELETE  http_api.booking_page_api (no key)
  manage/{token}[/booking|slots]    GET (no key)       http_api.manage (the token is the credential)
  manage/{token}/reschedule|cancel  POST (no key)      http_api.manage

Timers
  relay_outbox (every 30 s), expire_holds (every 5 min)                   triggers.timers
  reconcile_dataverse (daily 02:30 UTC: past 1 day, next 30 days)         triggers.daily_reconcile
  maintain_graph_subscriptions (hourly), resync_outlook (daily 03:15 UTC)  triggers.outlook_changes
  retry_webhooks (every 30 s: due webhook deliveries)                     triggers.webhook_delivery
  send_reminders (every 5 min: due reminder emails, Graph sendMail)       triggers.reminders

Service Bus (topic booking-events, sessions on)
  sync_dataverse      subscription dataverse                              triggers.sync_dataverse
  sync_outlook        subscription outlook                                triggers.sync_outlook
  deliver_webhooks    subscription webhooks                               triggers.webhook_delivery

Service Bus (queue graph-changes)
  reconcile_outlook_change   validated Graph notifications                triggers.outlook_changes

Service Bus (queue dynamics-changes)
  apply_dynamics_change      Dynamics webhook contexts, stored by the webhook   triggers.dynamics_changes
"""

from __future__ import annotations

import azure.functions as func

from bootstrap.settings import current_settings
from http_api import (
    admin,
    availability,
    booking_page,
    booking_page_api,
    bookings,
    dynamics_webhook,
    fairness,
    graph_callbacks,
    manage,
    operations,
    reconcile,
    routing,
    team,
    webhook_subscriptions,
)
from scheduling_core.runtime import logs, telemetry
from triggers import (
    daily_reconcile,
    dynamics_changes,
    outlook_changes,
    reminders,
    sync_dataverse,
    sync_outlook,
    timers,
    webhook_delivery,
)

logs.install()  # every log record: trace id, bound booking/host ids, invitee data redacted
telemetry.configure(current_settings().applicationinsights_connection_string)  # Azure Monitor when set

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(admin.bp)
app.register_functions(team.bp)
app.register_functions(availability.bp)
app.register_functions(bookings.bp)
app.register_functions(routing.bp)
app.register_functions(fairness.bp)
app.register_functions(operations.bp)
app.register_functions(dynamics_webhook.bp)
app.register_functions(booking_page.bp)
app.register_functions(booking_page_api.bp)
app.register_functions(manage.bp)
app.register_functions(timers.bp)
app.register_functions(reminders.bp)
app.register_functions(sync_dataverse.bp)
app.register_functions(reconcile.bp)
app.register_functions(daily_reconcile.bp)
app.register_functions(graph_callbacks.bp)
app.register_functions(sync_outlook.bp)
app.register_functions(outlook_changes.bp)
app.register_functions(dynamics_changes.bp)
app.register_functions(webhook_subscriptions.bp)
app.register_functions(webhook_delivery.bp)
