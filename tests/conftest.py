"""Shared fixtures: real services (Redis, PostgreSQL) by URL, each test on its own db/prefix."""
