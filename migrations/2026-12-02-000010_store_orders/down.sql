DELETE FROM idempotency_keys WHERE scope = 'STORE_ORDER';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_scope_known;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_scope_known
    CHECK (scope IN ('PRODUCT_CHANGE', 'POINTS_CHARGE'));
ALTER TABLE store_wallets DROP CONSTRAINT store_wallet_balance_range;
ALTER TABLE store_wallets ADD CONSTRAINT store_wallet_balance_range
    CHECK (balance BETWEEN 0 AND 10000000);
DROP TABLE store_sales_hourly;
DROP TABLE store_order_items;
DROP TABLE store_orders;
