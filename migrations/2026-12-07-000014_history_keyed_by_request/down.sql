DROP INDEX bill_inquiry_history_stream;
CREATE INDEX bill_inquiry_history_stream ON bill_inquiry_history (txid, id)
    WHERE snapshot_id IS NOT NULL;
ALTER TABLE bill_inquiry_history
    DROP CONSTRAINT bill_inquiry_history_pkey,
    ALTER COLUMN request_id TYPE VARCHAR(64) COLLATE "default",
    ALTER COLUMN line_number TYPE CHAR(11) COLLATE "default",
    ADD CONSTRAINT bill_inquiry_history_pkey PRIMARY KEY (id),
    ADD CONSTRAINT bill_inquiry_history_request_id_key UNIQUE (request_id);
