"""FDA's assessment week: the timeline, the site's people, and what the site prepares for it."""
