-- Each task's Task document (API.md), kept in its row as the JSON text the task read and the
-- list answer with. Written on every INSERT and UPDATE by the trigger below, whoever the
-- writer is, so it cannot fall behind the row. Reading it costs PostgreSQL a column where
-- building it cost row_to_json over 22 fields: a 20-task page 380-400 -> 150 us of server CPU
-- (docs/PERFORMANCE.md). Python's taskstore.task_json writes the same document for events
-- and the other answers; a test holds the two equal over tasks of every shape.
--
-- A later change of the document is a migration that replaces tasks.write_document() and
-- rewrites every row's document (UPDATE tasks.tasks SET document = NULL) in one go.
-- This one rewrites every task row while it holds the table's lock: on a large table, run
-- the migration (the migrate service or Job) in a quiet hour.
ALTER TABLE tasks.tasks ADD COLUMN document text;

-- RFC 3339 in UTC with a Z, without a zero microsecond part (backdrop_common.timestamps).
-- AT TIME ZONE 'UTC' makes it the same whatever the writing session's time zone. STABLE, not
-- IMMUTABLE (to_char is not), so that the planner inlines it.
CREATE FUNCTION tasks.rfc3339(moment timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT replace(to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   '.000000Z', 'Z')
$$;

CREATE FUNCTION tasks.write_document() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.document := row_to_json(d)::text FROM (SELECT
        NEW.id::text AS id, NEW.status AS status, NEW.processor AS processor,
        NEW.params AS params, NEW.filename AS filename, NEW.size AS size,
        NEW.content_type AS content_type, NEW.sha256 AS sha256,
        json_build_object('fraction', NEW.progress_fraction, 'stage', NEW.progress_stage,
            'message', NEW.progress_message,
            'updated_at', tasks.rfc3339(NEW.progress_updated_at)) AS progress,
        NEW.attempts AS attempts, NEW.max_attempts AS max_attempts,
        NEW.attempt_errors AS attempt_errors, NEW.cancel_requested AS cancel_requested,
        CASE WHEN NEW.error_code <> '' THEN json_build_object('code', NEW.error_code,
            'message', NEW.error_message) END AS error,
        tasks.rfc3339(NEW.created_at) AS created_at,
        tasks.rfc3339(NEW.updated_at) AS updated_at,
        tasks.rfc3339(NEW.queued_at) AS queued_at,
        tasks.rfc3339(NEW.started_at) AS started_at,
        tasks.rfc3339(NEW.finished_at) AS finished_at,
        tasks.rfc3339(NEW.upload_expires_at) AS upload_expires_at,
        tasks.rfc3339(NEW.next_attempt_at) AS next_attempt_at) d;
    RETURN NEW;
END
$$;

-- The same digits whatever the writing session's extra_float_digits (the progress fraction;
-- 1, PostgreSQL's default, writes the shortest exact form, as Python does).
ALTER FUNCTION tasks.write_document() SET extra_float_digits = 1;

CREATE TRIGGER write_document BEFORE INSERT OR UPDATE ON tasks.tasks
    FOR EACH ROW EXECUTE FUNCTION tasks.write_document();

-- The rows already there: the trigger writes their documents.
UPDATE tasks.tasks SET document = NULL;
ALTER TABLE tasks.tasks ALTER COLUMN document SET NOT NULL;
