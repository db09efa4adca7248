"""Locale: every user-facing string, in every language we speak."""
