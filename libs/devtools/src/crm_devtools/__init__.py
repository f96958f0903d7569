"""Development tooling (never imported by a service)."""
