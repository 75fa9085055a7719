"""Remediations a person may approve: the catalog of what exists and how its arguments validate."""
