ALTER TABLE bill_inquiry_history
    ADD CONSTRAINT bill_inquiry_history_snapshot_id_fkey
    FOREIGN KEY (snapshot_id) REFERENCES bill_snapshots (id);
