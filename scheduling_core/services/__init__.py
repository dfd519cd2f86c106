"""Services: one use case each, wiring ports to the functional core."""
