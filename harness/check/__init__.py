"""Verification of combinations against the reference, and the conformance kit."""
