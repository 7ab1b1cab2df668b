-- One PostgreSQL write per bill inquiry (issue 16): the history row is the MVNO outbox of
-- its notification, and the bill it answered is stored once, not once per inquiry.

-- The bills inquiries were answered with, stored once each: `id` is a 128-bit hash of the
-- bill's JSON (`bill`, KOS's bill as cached), so every inquiry answered from the same
-- cached bill, on any instance, refers to the same row.
CREATE TABLE bill_snapshots (
    id         UUID         PRIMARY KEY,
    bill       JSONB        NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- New rows refer to their bill instead of carrying the answer (`result` stays for the rows
-- written before: they are read as they always were). `txid` is the writing transaction,
-- which the notifier's cursor follows (see mvno_cursors). Old rows keep both NULL: their
-- notifications were written to mvno_outbox and are delivered from there.
-- (Added without a default first, so old rows are not given one; then the default.)
ALTER TABLE bill_inquiry_history
    ADD COLUMN snapshot_id UUID REFERENCES bill_snapshots (id),
    ADD COLUMN txid        xid8;
ALTER TABLE bill_inquiry_history
    ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
-- Every answered inquiry written from now on is owed one notification: those with a
-- snapshot, in the cursor's order.
CREATE INDEX bill_inquiry_history_stream ON bill_inquiry_history (txid, id)
    WHERE snapshot_id IS NOT NULL;

-- How far each notification stream has been delivered, and which instance delivers it.
-- The cursor only ever moves over rows written by transactions older than the oldest one
-- still running (`pg_snapshot_xmin`): rows become visible in commit order, not in id
-- order, and a later one never lands behind it.
CREATE TABLE mvno_cursors (
    stream        VARCHAR(32)  PRIMARY KEY,
    position_txid xid8         NOT NULL,
    position_id   BIGINT       NOT NULL,
    holder        VARCHAR(64),
    leased_until  TIMESTAMPTZ,
    moved_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CHECK ((holder IS NULL) = (leased_until IS NULL))
);
INSERT INTO mvno_cursors (stream, position_txid, position_id) VALUES ('bill-result', '0', 0);

-- A notification the MVNO AP refused for good (a 4xx answer) is set aside: kept, counted,
-- never retried by itself, and it no longer holds anything up.
ALTER TABLE mvno_outbox ADD COLUMN set_aside_at TIMESTAMPTZ;
ALTER TABLE mvno_outbox ADD CONSTRAINT outbox_set_aside_undelivered
    CHECK (set_aside_at IS NULL OR delivered_at IS NULL);
DROP INDEX mvno_outbox_pending;
CREATE INDEX mvno_outbox_pending ON mvno_outbox (next_attempt_at, id)
    WHERE delivered_at IS NULL AND set_aside_at IS NULL;
CREATE INDEX mvno_outbox_set_aside ON mvno_outbox (set_aside_at) WHERE set_aside_at IS NOT NULL;
