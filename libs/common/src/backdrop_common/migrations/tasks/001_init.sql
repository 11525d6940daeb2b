-- The task table: the source of truth for every task's state (Redis streams only deliver).
-- All SQL touching it lives in backdrop_common.taskstore.

CREATE TABLE tasks.tasks (
    id                   uuid PRIMARY KEY,
    owner_id             uuid NOT NULL,
    status               text NOT NULL DEFAULT 'awaiting_upload'
        CONSTRAINT tasks_status_check CHECK (status IN (
            'awaiting_upload', 'queued', 'running',
            'succeeded', 'failed', 'cancelled', 'expired')),
    processor            text NOT NULL,
    params               jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- filename as the client sent it (display only); object_key holds the sanitised form
    filename             text NOT NULL,
    size                 bigint NOT NULL CONSTRAINT tasks_size_check CHECK (size >= 0),
    content_type         text NOT NULL,
    sha256               text CONSTRAINT tasks_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    object_key           text NOT NULL,
    multipart_upload_id  text,
    idempotency_key      text,
    request_hash         text,
    attempts             integer NOT NULL DEFAULT 0,
    max_attempts         integer NOT NULL DEFAULT 5,
    worker_id            text,
    lease_until          timestamptz,
    cancel_requested     boolean NOT NULL DEFAULT false,
    progress_fraction    double precision NOT NULL DEFAULT 0
        CONSTRAINT tasks_progress_check CHECK (progress_fraction BETWEEN 0 AND 1),
    progress_stage       text,
    progress_message     text,
    progress_updated_at  timestamptz,
    result               jsonb,
    artifacts            jsonb NOT NULL DEFAULT '[]'::jsonb,
    error_code           text,
    error_message        text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    upload_expires_at    timestamptz NOT NULL,
    queued_at            timestamptz,
    -- set once the job is on the Redis stream; NULL while queued = the relay must (re)send it
    enqueued_at          timestamptz,
    next_attempt_at      timestamptz,
    started_at           timestamptz,
    finished_at          timestamptz
);

-- Idempotent create: one task per (owner, key).
CREATE UNIQUE INDEX tasks_owner_idempotency_key
    ON tasks.tasks (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The owner's list, newest first, keyset-paginated on (created_at, id); with and without status.
CREATE INDEX tasks_owner_created ON tasks.tasks (owner_id, created_at DESC, id DESC);
CREATE INDEX tasks_owner_status_created
    ON tasks.tasks (owner_id, status, created_at DESC, id DESC);

-- Per-user cap on unfinished tasks.
CREATE INDEX tasks_owner_unfinished ON tasks.tasks (owner_id)
    WHERE status IN ('awaiting_upload', 'queued', 'running');

-- Sweeper: uploads past their window.
CREATE INDEX tasks_upload_expiry ON tasks.tasks (upload_expires_at)
    WHERE status = 'awaiting_upload';

-- Relay: queued tasks whose XADD is unconfirmed or whose retry time comes.
CREATE INDEX tasks_relay ON tasks.tasks (coalesce(next_attempt_at, queued_at))
    WHERE status = 'queued' AND enqueued_at IS NULL;

-- Relay of stale deliveries (Redis lost the entry) and lapsed leases.
CREATE INDEX tasks_queued_enqueued ON tasks.tasks (enqueued_at) WHERE status = 'queued';
CREATE INDEX tasks_running_lease ON tasks.tasks (lease_until) WHERE status = 'running';

-- Admin views: recent failures (the dead-letter list) and per-status counts.
CREATE INDEX tasks_status_finished ON tasks.tasks (status, finished_at DESC);
