"""Running the readiness program: decisions, objectives, steering, forum, plans, continuity."""
