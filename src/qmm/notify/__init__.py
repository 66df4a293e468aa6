"""Telling people by e-mail what needs them, so nobody has to open the page to be told."""
