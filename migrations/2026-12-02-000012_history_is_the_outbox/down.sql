DROP INDEX mvno_outbox_set_aside;
DROP INDEX mvno_outbox_pending;
CREATE INDEX mvno_outbox_pending ON mvno_outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
ALTER TABLE mvno_outbox DROP CONSTRAINT outbox_set_aside_undelivered;
ALTER TABLE mvno_outbox DROP COLUMN set_aside_at;
DROP TABLE mvno_cursors;
-- Rows written since keep their answer only through their snapshot: put it back in
-- `result` before the snapshots go (their notifications are not re-created).
UPDATE bill_inquiry_history h
   SET result = jsonb_build_object(
       'requestId', h.request_id, 'procStatus', 'COMPLETED', 'resultCode', '0000',
       'resultMessage', h.result_message,
       'billInfo', jsonb_build_object(
           'lineNumber', substr(h.line_number, 1, 3) || '-' || substr(h.line_number, 4, 4)
                         || '-' || substr(h.line_number, 8, 4),
           'billingMonth', s.bill->'billingMonth', 'productCode', s.bill->'productCode',
           'productName', s.bill->'productName', 'monthlyFee', s.bill->'monthlyFee',
           'usageFee', s.bill->'usageFee', 'discountAmount', s.bill->'discountAmount',
           'totalFee', s.bill->'totalFee', 'dataUsage', s.bill->'dataUsage',
           'voiceUsage', s.bill->'voiceUsage', 'smsUsage', s.bill->'smsUsage',
           'billStatus', s.bill->'billStatus', 'dueDate', s.bill->'dueDate',
           'discountInfo', s.bill->'discountInfo',
           'estimatedCancellationFee', s.bill->'estimatedCancellationFee',
           'deviceInstallment', s.bill->'deviceInstallment',
           'paymentInfo', s.bill->'paymentInfo'),
       'customerInfo', jsonb_build_object(
           'customerName', s.bill->'customerName', 'customerId', s.bill->'customerId',
           'operatorCode', s.bill->'operatorCode', 'lineStatus', s.bill->'lineStatus'))
  FROM bill_snapshots s
 WHERE h.snapshot_id = s.id AND h.result IS NULL;
DROP INDEX bill_inquiry_history_stream;
ALTER TABLE bill_inquiry_history DROP COLUMN txid, DROP COLUMN snapshot_id;
DROP TABLE bill_snapshots;
