-- Fair scheduling between users (issue 13): a queued task reaches its job stream only once
-- admitted under its owner's cap (BACKDROP_MAX_DISPATCHED_PER_USER, backdrop_common.jobs);
-- until then it waits here, "held", and is sent when one of the owner's tasks finishes.
ALTER TABLE tasks.tasks ADD COLUMN dispatched_at timestamptz;

-- Jobs already on their streams stay admitted; unconfirmed ones and retries not yet sent
-- go through admission like every new job.
UPDATE tasks.tasks SET dispatched_at = enqueued_at
    WHERE status = 'queued' AND enqueued_at IS NOT NULL;

-- The owner's count (dispatched or running) taken at each admission, under its lock.
CREATE INDEX tasks_owner_dispatched ON tasks.tasks (owner_id)
    WHERE status = 'running' OR (status = 'queued' AND dispatched_at IS NOT NULL);
-- The owner's waiting tasks, oldest first (and the owners that have some).
CREATE INDEX tasks_owner_waiting ON tasks.tasks (owner_id, queued_at, id)
    WHERE status = 'queued' AND dispatched_at IS NULL;
