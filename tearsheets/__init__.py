"""Jinja2 templates and CSS for the HTML tear sheets (package data; no code)."""
