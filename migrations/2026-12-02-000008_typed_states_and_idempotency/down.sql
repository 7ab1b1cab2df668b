DROP INDEX idempotency_keys_request;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_scope_known;
ALTER TABLE idempotency_keys ADD COLUMN response_status INTEGER;
ALTER TABLE idempotency_keys ADD COLUMN response_body JSONB;
UPDATE idempotency_keys
   SET response_status = CASE answer ->> 'outcome' WHEN 'settled' THEN 200 WHEN 'refused' THEN 409 END,
       response_body = jsonb_build_object('status', CASE answer ->> 'outcome' WHEN 'settled' THEN 200 ELSE 409 END,
                                          'code', CASE answer ->> 'outcome' WHEN 'refused' THEN 'VALIDATION_FAILED' END,
                                          'message', COALESCE(answer -> 'data' ->> 'resultMessage', answer -> 'data' ->> 'failureReason', ''),
                                          'data', answer -> 'data')
 WHERE answer IS NOT NULL;
DELETE FROM idempotency_keys WHERE scope <> 'PRODUCT_CHANGE';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (user_id, idem_key);
ALTER TABLE idempotency_keys DROP COLUMN answer;
ALTER TABLE idempotency_keys DROP COLUMN scope;
ALTER TABLE users DROP CONSTRAINT account_status_known;
ALTER TABLE bill_inquiry_history DROP CONSTRAINT bill_inquiry_status;
