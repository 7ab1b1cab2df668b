-- Product change requests, recorded PROCESSING before KOS is called and settled after.
CREATE TABLE product_change_requests (
    id                    BIGSERIAL    PRIMARY KEY,
    request_id            VARCHAR(64)  NOT NULL UNIQUE,
    user_id               VARCHAR(20)  NOT NULL,
    line_number           CHAR(11)     NOT NULL,
    current_product_code  VARCHAR(32)  NOT NULL,
    target_product_code   VARCHAR(32)  NOT NULL,
    status                VARCHAR(16)  NOT NULL,
    result_code           VARCHAR(16),
    result_message        TEXT,
    response              JSONB,
    requested_at          TIMESTAMPTZ  NOT NULL DEFAULT now(),
    processed_at          TIMESTAMPTZ,
    check_attempts        INTEGER      NOT NULL DEFAULT 0,
    next_check_at         TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT product_change_status CHECK (status IN ('PROCESSING', 'COMPLETED', 'FAILED'))
);
-- At most one change in flight per line, across every instance.
CREATE UNIQUE INDEX product_change_one_in_flight
    ON product_change_requests (line_number) WHERE status = 'PROCESSING';
CREATE INDEX product_change_line_time ON product_change_requests (line_number, requested_at DESC);
CREATE INDEX product_change_processing ON product_change_requests (next_check_at) WHERE status = 'PROCESSING';

-- Idempotency-Key of product changes, per user, kept 24 hours.
CREATE TABLE idempotency_keys (
    user_id         VARCHAR(20)   NOT NULL,
    idem_key        VARCHAR(255)  NOT NULL,
    fingerprint     TEXT          NOT NULL,
    request_id      VARCHAR(64)   NOT NULL,
    response_status INTEGER,
    response_body   JSONB,
    created_at      TIMESTAMPTZ   NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ   NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
