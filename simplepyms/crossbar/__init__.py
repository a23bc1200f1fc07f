"""Crossbar configurations shipped with simplepyms."""
