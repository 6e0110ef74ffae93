"""Test-only helpers that start real services (PostgreSQL) for the tests that need them."""
