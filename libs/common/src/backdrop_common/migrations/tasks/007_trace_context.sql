-- The W3C trace context of the request that created the task (NULL unless tracing was on):
-- later hops (upload-complete, the sweeper's relay) continue the task's one trace from it.
ALTER TABLE tasks.tasks ADD COLUMN traceparent text;
