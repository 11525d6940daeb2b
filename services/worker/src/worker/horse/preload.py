"""Work-horse side: imported once by the forkserver, so every forked work horse starts warm.

Importing this module has side effects on purpose (``set_forkserver_preload`` can only
import modules):

* it runs the worker's main script once, as ``__mp_main__``. Every multiprocessing child
  otherwise re-runs it while bootstrapping (``spawn.prepare``), which for the console
  script means importing ``worker.cli`` and redis-py again: ~0.4 s per job. (Python 3.11
  forgets to pass the main path when ``"__main__"`` is preloaded, hence doing it here.)
* it loads the served processors and boto3's S3 model, then freezes the collector, so a
  child is a cheap ``fork()`` of an interpreter that already has everything.
"""

from __future__ import annotations

import contextlib
import os
from multiprocessing import spawn

from worker.horse import main as horse_main

_main_path = os.environ.get(horse_main.MAIN_PATH_ENV)
if _main_path:
    with contextlib.suppress(Exception):
        spawn.import_main_path(_main_path)

horse_main.warm_up()
