"""Delivery: build the message and send it through a backend, exactly once.

`message` builds the email and its headers; `backends/` is the one seam to providers
(outbox, SMTP, SendGrid) and classifies their errors; `state` claims, sends, reconciles and
sweeps digests.
"""
