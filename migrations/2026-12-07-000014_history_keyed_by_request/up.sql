-- The request id is the history's key (issue 16). The serial id keeps ordering the
-- bill-result stream (txid, id), but its own index served no query (the stream reads
-- (txid, id), a line's history (line_number, request_time), a past answer request_id)
-- and cost PostgreSQL an index entry for every inquiry written: one index fewer per row.
-- Request ids and line numbers compare bytewise (COLLATE "C": they are ASCII, and the
-- database's locale would order them the same way at more cost per comparison); new
-- request ids are time-ordered, so each insert lands at the right end of its index.
ALTER TABLE bill_inquiry_history
    DROP CONSTRAINT bill_inquiry_history_pkey,
    DROP CONSTRAINT bill_inquiry_history_request_id_key,
    ALTER COLUMN request_id TYPE VARCHAR(64) COLLATE "C",
    ALTER COLUMN line_number TYPE CHAR(11) COLLATE "C",
    ADD CONSTRAINT bill_inquiry_history_pkey PRIMARY KEY (request_id);
-- Without its primary key the serial id is no longer unique by constraint; the bill-result
-- stream's cursor relies on (txid, id) naming one row, so its index now says so.
DROP INDEX bill_inquiry_history_stream;
CREATE UNIQUE INDEX bill_inquiry_history_stream ON bill_inquiry_history (txid, id)
    WHERE snapshot_id IS NOT NULL;
