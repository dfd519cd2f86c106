"""Non-HTTP trigger glue of the Functions shell: timers, and local dispatch of Service Bus triggers.

Like `http_api`, nothing here holds business rules: each module parses its binding, calls one
`scheduling_core` service and maps the outcome back to the trigger (return, or raise to retry).
"""
