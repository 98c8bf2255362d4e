"""Leaves every layer may use: the error a person reads, secret masking and name sanitizing, testing hooks."""
