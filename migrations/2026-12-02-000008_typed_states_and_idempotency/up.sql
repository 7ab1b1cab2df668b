-- States the code keeps as enums, held to the same values here.
ALTER TABLE bill_inquiry_history
    ADD CONSTRAINT bill_inquiry_status CHECK (status IN ('COMPLETED', 'FAILED'));
ALTER TABLE users
    ADD CONSTRAINT account_status_known CHECK (account_status IN ('ACTIVE', 'SUSPENDED', 'DECOY'));

-- One idempotency mechanism for every endpoint that takes an Idempotency-Key: a key is
-- per user and scope (the endpoint), and keeps the outcome given (a JSON document of the
-- scope's own type) instead of an HTTP status and body.
ALTER TABLE idempotency_keys ADD COLUMN scope VARCHAR(32) NOT NULL DEFAULT 'PRODUCT_CHANGE';
ALTER TABLE idempotency_keys ADD COLUMN answer JSONB;
UPDATE idempotency_keys
   SET answer = CASE response_status
                  WHEN 200 THEN jsonb_build_object('outcome', 'settled', 'data', response_body -> 'data')
                  WHEN 409 THEN jsonb_build_object('outcome', 'refused', 'data', response_body -> 'data')
                END
 WHERE response_status IS NOT NULL;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (user_id, scope, idem_key);
ALTER TABLE idempotency_keys DROP COLUMN response_status;
ALTER TABLE idempotency_keys DROP COLUMN response_body;
ALTER TABLE idempotency_keys ALTER COLUMN scope DROP DEFAULT;
ALTER TABLE idempotency_keys
    ADD CONSTRAINT idempotency_scope_known CHECK (scope IN ('PRODUCT_CHANGE'));
CREATE INDEX idempotency_keys_request ON idempotency_keys (request_id);
