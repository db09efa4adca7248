"""Writing: the synthesis and per-paper summaries, by Claude or the offline writer."""
