"""Harvest: fetch feeds (conditional GET, rate limits), parse them, store normalized papers."""
