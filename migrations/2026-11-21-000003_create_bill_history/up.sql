-- Every bill inquiry that passed validation and ownership, written in batches by the
-- history writer (as the seeds' history tables: request, line, month, times, status,
-- KOS response time, cache hit), with the answer given so it can be shown again.
CREATE TABLE bill_inquiry_history (
    id               BIGSERIAL    PRIMARY KEY,
    request_id       VARCHAR(64)  NOT NULL UNIQUE,
    user_id          VARCHAR(20)  NOT NULL,
    line_number      CHAR(11)     NOT NULL,
    inquiry_month    CHAR(6)      NOT NULL,
    request_time     TIMESTAMPTZ  NOT NULL,
    process_time     TIMESTAMPTZ  NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    result_code      VARCHAR(8)   NOT NULL,
    result_message   TEXT         NOT NULL,
    kos_response_ms  INTEGER,
    cache_hit        BOOLEAN      NOT NULL,
    result           JSONB
);
CREATE INDEX bill_inquiry_history_line_time ON bill_inquiry_history (line_number, request_time DESC);
