-- A seed-style client asks for a task without knowing the file's size (POST /task/request
-- with no size): it stays NULL until the streamed body has arrived, and is recorded when the
-- task is queued. Every other path declares it up front, as before.
ALTER TABLE tasks.tasks ALTER COLUMN size DROP NOT NULL;
