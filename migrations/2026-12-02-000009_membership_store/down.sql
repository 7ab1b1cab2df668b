DELETE FROM idempotency_keys WHERE scope = 'POINTS_CHARGE';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_scope_known;
ALTER TABLE idempotency_keys
    ADD CONSTRAINT idempotency_scope_known CHECK (scope IN ('PRODUCT_CHANGE'));
DROP TABLE store_coupons;
DROP TABLE store_coupon_campaigns;
DROP TABLE store_products;
DROP TRIGGER store_ledger_append_only ON store_ledger;
DROP FUNCTION store_ledger_is_append_only();
DROP TABLE store_ledger;
DROP TABLE store_wallets;
