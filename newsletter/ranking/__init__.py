"""Ranking: which of the window's papers each subscriber gets, in what order, and why."""
