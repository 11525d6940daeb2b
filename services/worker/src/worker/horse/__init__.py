"""Work-horse side: everything in this package runs inside the child process that runs a job.

The worker process (everything else in ``worker``) never imports this package's code into
its own threads' work; it only starts work horses through ``worker.horse_handle``. A work
horse holds no database or Redis connection, so it can be killed at any instant.
"""
