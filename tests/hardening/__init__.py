"""Regression tests for the hardening issue (#14): each reproduces a defect through the real surface."""
