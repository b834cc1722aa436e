"""Held-out probes, ridge regression, and statistics over seeds for reports."""
