-- Notifications owed to the MVNO AP server, delivered at least once by the notifier.
CREATE TABLE mvno_outbox (
    id              BIGSERIAL    PRIMARY KEY,
    kind            VARCHAR(32)  NOT NULL,
    -- Stable id of the event (the request id): receivers deduplicate on it.
    event_id        VARCHAR(64)  NOT NULL UNIQUE,
    payload         JSONB        NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    attempts        INTEGER      NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    leased_until    TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ,
    last_error      TEXT
);
CREATE INDEX mvno_outbox_pending ON mvno_outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
