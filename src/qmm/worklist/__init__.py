"""Needs attention: what is due, overdue, waiting or signalling at the sites a person reads."""
