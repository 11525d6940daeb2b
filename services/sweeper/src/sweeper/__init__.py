"""Backdrop sweeper: one process running the timers of the task lifecycle."""
