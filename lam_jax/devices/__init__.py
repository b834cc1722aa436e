"""Meshes and multi-host start-up, fatal-error filtering, accelerator peak rates."""
