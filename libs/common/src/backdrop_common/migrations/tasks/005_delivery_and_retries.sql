-- Delivery bookkeeping, the retry history and the dead-letter view.

ALTER TABLE tasks.tasks
    -- The id of the job's latest stream entry: the sweeper re-sends a job only when that
    -- entry is gone (Redis lost it), so relays never pile duplicates onto a stream.
    ADD COLUMN stream_entry_id text,
    -- One object per failed attempt: {attempt, code, message, at, retry_at?}.
    ADD COLUMN attempt_errors jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- An operator discarded this dead letter: it stays failed and leaves the dead-letter view.
    ADD COLUMN discarded_at timestamptz;

-- Dead letters: failed after the last attempt, not discarded, newest first.
CREATE INDEX tasks_dead_letters ON tasks.tasks (finished_at DESC, id DESC)
    WHERE status = 'failed' AND error_code = 'retries_exhausted' AND discarded_at IS NULL;
