"""The fault suite's kit: its own servers, the stack under test, load, faults and the audit."""
