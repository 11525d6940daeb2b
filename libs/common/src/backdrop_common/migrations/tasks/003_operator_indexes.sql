-- Operators list every owner's tasks newest first, optionally by status or processor, and
-- the dashboard counts what finished in the last minutes.
CREATE INDEX tasks_created ON tasks.tasks (created_at DESC, id DESC);
CREATE INDEX tasks_status_created ON tasks.tasks (status, created_at DESC, id DESC);
CREATE INDEX tasks_processor_created ON tasks.tasks (processor, created_at DESC, id DESC);
CREATE INDEX tasks_finished ON tasks.tasks (finished_at) WHERE finished_at IS NOT NULL;
