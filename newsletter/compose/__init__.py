"""Compose: turn a ranked selection into the email (MJML, premailer, plain text)."""
