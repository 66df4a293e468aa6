"""The web face of the workbench: server-rendered pages for people and a JSON API for scripts."""
