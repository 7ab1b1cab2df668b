-- A history row's bill reference is no longer checked by a foreign key (issue 16). The
-- check ran a trigger and locked the bill's row for every inquiry written, about a third
-- of what PostgreSQL spent on each history row (docs/PERFORMANCE.md). The reference holds
-- without it: the history writer inserts a batch's bills and its rows in one transaction,
-- and nothing deletes a bill.
ALTER TABLE bill_inquiry_history DROP CONSTRAINT bill_inquiry_history_snapshot_id_fkey;
