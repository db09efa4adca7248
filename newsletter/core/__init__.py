"""The foundation every stage stands on: settings, database, models, time, text, signed links."""
