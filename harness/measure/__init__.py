"""Turning a plan into measured rows, in this process or in worker processes."""
