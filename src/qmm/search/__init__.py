"""Search: one box over the records people look for, on the database's own full-text index."""
