"""The task store: every SQL statement about tasks (schema ``tasks``) lives in this package.

Each transition is one guarded ``UPDATE ... WHERE status IN (...) RETURNING *``: a duplicate
or racing call matches nothing and returns ``None``, so retries and races are harmless.
Functions take ``db`` first and return a ``TaskRow`` (a dict of ``tasks.tasks``) or None; a
function taking ``owner_id`` returns None for another owner's task (callers answer 404).
The contract is the table in ``docs/ARCHITECTURE.md``. ``fetch_all``/``fetch_one`` run one
statement in its own transaction, for the other tables of schema ``tasks`` (webhooks).
"""

from __future__ import annotations

from backdrop_common.db import Database
from backdrop_common.migrations import migrate
from backdrop_common.retries import EXHAUSTED
from backdrop_common.taskstore._admission import admit_waiting, has_waiting, owners_waiting
from backdrop_common.taskstore._dead_letters import (
    count_dead_letters,
    discard_dead_letter,
    list_dead_letters,
    retry_failed,
)
from backdrop_common.taskstore._delivery import deliveries_to_check, due_for_enqueue
from backdrop_common.taskstore._document import (
    STATUSES,
    TERMINAL,
    UNFINISHED,
    overlay_progress,
    task_json,
)
from backdrop_common.taskstore._overview import (
    backlog_by_processor,
    finished_per_minute,
    running_by_worker,
    search_tasks,
)
from backdrop_common.taskstore._queries import (
    count_by_status,
    count_unfinished,
    create_task,
    expire_uploads,
    get_owned_document,
    get_owned_task,
    get_task,
    get_task_by_idempotency_key,
    list_tasks,
)
from backdrop_common.taskstore._sql import TaskId, TaskRow, fetch_all, fetch_one
from backdrop_common.taskstore._transitions import (
    WORKER_LOST,
    claim,
    clear_multipart_upload,
    extend_lease,
    mark_cancelled,
    mark_enqueued,
    mark_failed,
    mark_queued,
    mark_succeeded,
    request_cancel,
    requeue,
    save_progress,
    set_multipart_upload,
)
from backdrop_common.taskstore._uploads import (
    awaiting_upload_bytes,
    inputs_to_sweep,
    mark_input_swept,
)

MIGRATIONS_PACKAGE = "backdrop_common.migrations.tasks"


def migrate_tasks(db: Database) -> list[str]:
    """Apply the ``tasks`` schema migrations (safe when several services start at once)."""
    return migrate(db, "tasks", MIGRATIONS_PACKAGE)


__all__ = [
    "EXHAUSTED",
    "MIGRATIONS_PACKAGE",
    "STATUSES",
    "TERMINAL",
    "UNFINISHED",
    "WORKER_LOST",
    "TaskId",
    "TaskRow",
    "admit_waiting",
    "awaiting_upload_bytes",
    "backlog_by_processor",
    "claim",
    "clear_multipart_upload",
    "count_by_status",
    "count_dead_letters",
    "count_unfinished",
    "create_task",
    "deliveries_to_check",
    "discard_dead_letter",
    "due_for_enqueue",
    "expire_uploads",
    "extend_lease",
    "fetch_all",
    "fetch_one",
    "finished_per_minute",
    "get_owned_document",
    "get_owned_task",
    "get_task",
    "get_task_by_idempotency_key",
    "has_waiting",
    "inputs_to_sweep",
    "list_dead_letters",
    "list_tasks",
    "mark_cancelled",
    "mark_enqueued",
    "mark_failed",
    "mark_input_swept",
    "mark_queued",
    "mark_succeeded",
    "migrate_tasks",
    "overlay_progress",
    "owners_waiting",
    "request_cancel",
    "requeue",
    "retry_failed",
    "running_by_worker",
    "save_progress",
    "search_tasks",
    "set_multipart_upload",
    "task_json",
]
