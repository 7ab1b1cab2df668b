-- The membership store (SPEC section 9), part 1: points wallets and their append-only
-- ledger, the shop's products, coupon campaigns and the coupons issued from them. The
-- invariants live here where the database can hold them; the code checks the rest.

-- A user's points. The ceiling is the largest `[store] balance_max` the service accepts
-- (it refuses a larger one at start-up); the configured cap is applied by the charge
-- statement itself.
CREATE TABLE store_wallets (
    user_id     VARCHAR(20)  PRIMARY KEY REFERENCES users (user_id),
    balance     BIGINT       NOT NULL DEFAULT 0
                CONSTRAINT store_wallet_balance_range CHECK (balance BETWEEN 0 AND 10000000),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- Every balance change, never updated or deleted: a wallet's balance is the sum of its
-- entries (CHARGE and RESTORE add, USE subtracts).
CREATE TABLE store_ledger (
    id              BIGSERIAL    PRIMARY KEY,
    transaction_id  UUID         NOT NULL UNIQUE,
    user_id         VARCHAR(20)  NOT NULL REFERENCES store_wallets (user_id),
    kind            VARCHAR(8)   NOT NULL
                    CONSTRAINT store_ledger_kind CHECK (kind IN ('CHARGE', 'USE', 'RESTORE')),
    amount          BIGINT       NOT NULL CONSTRAINT store_ledger_amount CHECK (amount > 0),
    balance_after   BIGINT       NOT NULL CONSTRAINT store_ledger_balance CHECK (balance_after >= 0),
    order_id        UUID,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX store_ledger_by_user ON store_ledger (user_id, id DESC);

CREATE FUNCTION store_ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'store_ledger is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER store_ledger_append_only BEFORE UPDATE OR DELETE ON store_ledger
    FOR EACH ROW EXECUTE FUNCTION store_ledger_is_append_only();

-- The shop. `stocked` is every unit ever put on sale (initial stock plus admin additions):
-- the audit checks stocked = stock + units sold and held.
CREATE TABLE store_products (
    product_id   BIGSERIAL     PRIMARY KEY,
    name         VARCHAR(100)  NOT NULL,
    price        BIGINT        NOT NULL CONSTRAINT store_product_price CHECK (price > 0),
    stock        INTEGER       NOT NULL CONSTRAINT store_product_stock CHECK (stock >= 0),
    stocked      INTEGER       NOT NULL,
    description  TEXT          NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    CONSTRAINT store_product_stocked CHECK (stocked >= stock)
);

-- Coupon campaigns: never more issued than their quantity.
CREATE TABLE store_coupon_campaigns (
    campaign_id        BIGSERIAL     PRIMARY KEY,
    code               VARCHAR(32)   NOT NULL UNIQUE,
    name               VARCHAR(100)  NOT NULL,
    discount_type      VARCHAR(8)    NOT NULL
                       CONSTRAINT store_campaign_type CHECK (discount_type IN ('AMOUNT', 'RATE')),
    discount_value     BIGINT        NOT NULL CONSTRAINT store_campaign_value CHECK (discount_value > 0),
    max_discount       BIGINT        CONSTRAINT store_campaign_max CHECK (max_discount > 0),
    min_order_amount   BIGINT        NOT NULL DEFAULT 0
                       CONSTRAINT store_campaign_min_order CHECK (min_order_amount >= 0),
    total_quantity     INTEGER       NOT NULL CONSTRAINT store_campaign_quantity CHECK (total_quantity >= 0),
    issued             INTEGER       NOT NULL DEFAULT 0,
    issue_starts_at    TIMESTAMPTZ   NOT NULL,
    issue_ends_at      TIMESTAMPTZ   NOT NULL,
    valid_days         INTEGER       NOT NULL CONSTRAINT store_campaign_valid_days CHECK (valid_days > 0),
    eligible_operator  VARCHAR(10),
    created_at         TIMESTAMPTZ   NOT NULL DEFAULT now(),
    CONSTRAINT store_campaign_issued CHECK (issued BETWEEN 0 AND total_quantity),
    CONSTRAINT store_campaign_window CHECK (issue_starts_at < issue_ends_at),
    CONSTRAINT store_campaign_rate CHECK (
        discount_type = 'AMOUNT' OR (discount_value <= 100 AND max_discount IS NOT NULL))
);

-- Issued coupons: one per user per campaign. EXPIRED is not stored: a coupon past
-- `expires_at` reads as expired whatever its status.
CREATE TABLE store_coupons (
    coupon_id    BIGSERIAL    PRIMARY KEY,
    campaign_id  BIGINT       NOT NULL REFERENCES store_coupon_campaigns (campaign_id),
    user_id      VARCHAR(20)  NOT NULL REFERENCES users (user_id),
    status       VARCHAR(10)  NOT NULL DEFAULT 'AVAILABLE'
                 CONSTRAINT store_coupon_status CHECK (status IN ('AVAILABLE', 'RESERVED', 'USED')),
    issued_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ  NOT NULL,
    order_id     UUID,
    CONSTRAINT store_coupon_once UNIQUE (campaign_id, user_id)
);
CREATE INDEX store_coupons_by_user ON store_coupons (user_id, coupon_id DESC);

-- Charges take an Idempotency-Key too, through the one mechanism.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_scope_known;
ALTER TABLE idempotency_keys
    ADD CONSTRAINT idempotency_scope_known CHECK (scope IN ('PRODUCT_CHANGE', 'POINTS_CHARGE'));
