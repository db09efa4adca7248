"""Delivery: build the message and send it through a backend, exactly once."""
