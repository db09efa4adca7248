"""Scheduling: who is due now, the arXiv calendar, and the prepare/compose/deliver chain."""
