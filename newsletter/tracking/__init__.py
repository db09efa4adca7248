"""Tracking: provider webhooks, click redirects, suppression and the figures built on them."""
