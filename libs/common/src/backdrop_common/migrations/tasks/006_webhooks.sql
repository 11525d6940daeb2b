-- Webhooks: endpoints a user registers for all their tasks, a task's own callback URL, and
-- one delivery per (terminal status, target) with every attempt recorded. A trigger queues
-- the deliveries in the same transaction as the status change, whichever service makes it,
-- so no terminal status is missed and a restart loses nothing; the sweeper sends them.
CREATE TABLE tasks.webhook_endpoints (
    id          uuid PRIMARY KEY,
    owner_id    uuid NOT NULL,
    url         text NOT NULL,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_owner ON tasks.webhook_endpoints (owner_id, created_at);

CREATE TABLE tasks.task_callbacks (
    task_id  uuid PRIMARY KEY,
    url      text NOT NULL,
    secret   text NOT NULL
);

CREATE TABLE tasks.webhook_deliveries (
    id               uuid PRIMARY KEY,
    owner_id         uuid NOT NULL,
    task_id          uuid NOT NULL,
    endpoint_id      uuid REFERENCES tasks.webhook_endpoints (id) ON DELETE CASCADE,
    url              text NOT NULL,
    task_status      text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    payload          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX webhook_deliveries_due ON tasks.webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint
    ON tasks.webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_task ON tasks.webhook_deliveries (task_id);

CREATE TABLE tasks.webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES tasks.webhook_deliveries (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    duration_ms  integer NOT NULL,
    response     text
);
CREATE INDEX webhook_attempts_delivery ON tasks.webhook_attempts (delivery_id, id);

CREATE FUNCTION tasks.queue_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tasks.webhook_deliveries (id, owner_id, task_id, endpoint_id, url, task_status)
    SELECT gen_random_uuid(), NEW.owner_id, NEW.id, e.id, e.url, NEW.status
      FROM tasks.webhook_endpoints e WHERE e.owner_id = NEW.owner_id
    UNION ALL
    SELECT gen_random_uuid(), NEW.owner_id, NEW.id, NULL, c.url, NEW.status
      FROM tasks.task_callbacks c WHERE c.task_id = NEW.id;
    RETURN NEW;
END $$;

CREATE TRIGGER tasks_queue_webhooks AFTER UPDATE OF status ON tasks.tasks
    FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'failed', 'cancelled', 'expired')
          AND NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION tasks.queue_webhooks();
