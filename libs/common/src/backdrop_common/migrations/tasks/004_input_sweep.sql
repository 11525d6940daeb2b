-- A presigned form stays valid until it expires even after its task was cancelled, expired
-- or queued; the sweeper deletes whatever lands at the task's input key once the last URL
-- issued for it has lapsed (upload_expires_at), and records that here.
ALTER TABLE tasks.tasks ADD COLUMN input_swept_at timestamptz;
UPDATE tasks.tasks SET input_swept_at = now()
    WHERE status <> 'awaiting_upload' AND upload_expires_at < now() - interval '1 day';
CREATE INDEX tasks_input_unswept ON tasks.tasks (upload_expires_at)
    WHERE input_swept_at IS NULL AND status <> 'awaiting_upload';
