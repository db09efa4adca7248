"""Subscribers: subscribe, confirm, preferences, pause, unsubscribe, export, delete."""
