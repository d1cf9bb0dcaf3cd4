"""Soak: the demo fleet against a real collector for minutes at a steady rate; memory flat, nothing lost."""
