"""Shared runtime of the CRM services (no domain logic lives here)."""
