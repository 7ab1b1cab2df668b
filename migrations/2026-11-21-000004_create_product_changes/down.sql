DROP TABLE idempotency_keys;
DROP TABLE product_change_requests;
