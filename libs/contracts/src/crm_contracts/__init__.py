"""Public contracts shared by every CRM service (data only, no runtime code)."""
