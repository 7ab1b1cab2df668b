-- The membership store (SPEC section 9), part 2: orders, their items, and per-hour paid
-- quantities for the popular products. An order is placed in two transactions: the reserve
-- (order PENDING, stock taken, coupon RESERVED, the balance's USE entry) and the confirm
-- (PAID, coupon USED, the hour's sales). The recovery settles a PENDING order past its
-- deadline in one transaction with every restore (CANCELED).

CREATE TABLE store_orders (
    order_id         UUID         PRIMARY KEY,
    user_id          VARCHAR(20)  NOT NULL REFERENCES users (user_id),
    status           VARCHAR(10)  NOT NULL
                     CONSTRAINT store_order_status
                     CHECK (status IN ('PENDING', 'PAID', 'FAILED', 'CANCELED')),
    -- Why a FAILED or CANCELED order is so (INSUFFICIENT_BALANCE, SYSTEM_FAILURE, ...).
    reason           VARCHAR(32),
    total_amount     BIGINT       NOT NULL CONSTRAINT store_order_total CHECK (total_amount >= 0),
    discount_amount  BIGINT       NOT NULL CONSTRAINT store_order_discount CHECK (discount_amount >= 0),
    paid_amount      BIGINT       NOT NULL CONSTRAINT store_order_paid_amount CHECK (paid_amount >= 0),
    -- As the client sent it (a refused order may name a coupon that does not exist).
    coupon_id        BIGINT,
    -- The request that placed it: the holder of its Idempotency-Key.
    request_id       VARCHAR(64)  NOT NULL,
    balance_after    BIGINT,
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    -- When the recovery may settle it if it is still PENDING.
    deadline         TIMESTAMPTZ  NOT NULL,
    paid_at          TIMESTAMPTZ,
    settled_at       TIMESTAMPTZ,
    CONSTRAINT store_order_amounts CHECK (discount_amount + paid_amount = total_amount),
    CONSTRAINT store_order_settled CHECK ((status = 'PENDING') = (settled_at IS NULL)),
    CONSTRAINT store_order_paid CHECK ((status = 'PAID') = (paid_at IS NOT NULL)),
    CONSTRAINT store_order_reason CHECK ((status IN ('FAILED', 'CANCELED')) = (reason IS NOT NULL))
);
CREATE INDEX store_orders_by_user ON store_orders (user_id, created_at DESC, order_id);
CREATE INDEX store_orders_pending ON store_orders (deadline) WHERE status = 'PENDING';
-- A coupon is held by at most one order that is pending or paid.
CREATE UNIQUE INDEX store_orders_coupon_held ON store_orders (coupon_id)
    WHERE status IN ('PENDING', 'PAID') AND coupon_id IS NOT NULL;

CREATE TABLE store_order_items (
    order_id    UUID          NOT NULL REFERENCES store_orders (order_id),
    product_id  BIGINT        NOT NULL REFERENCES store_products (product_id),
    name        VARCHAR(100)  NOT NULL,
    unit_price  BIGINT        NOT NULL CONSTRAINT store_item_price CHECK (unit_price > 0),
    quantity    INTEGER       NOT NULL CONSTRAINT store_item_quantity CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX store_order_items_by_product ON store_order_items (product_id);

-- Paid units per product and hour, written by the confirm transaction; `slot` spreads one
-- hot product's confirms over several rows so they do not queue on one row lock.
CREATE TABLE store_sales_hourly (
    product_id  BIGINT       NOT NULL REFERENCES store_products (product_id),
    hour        TIMESTAMPTZ  NOT NULL,
    slot        SMALLINT     NOT NULL,
    quantity    BIGINT       NOT NULL CONSTRAINT store_sales_quantity CHECK (quantity > 0),
    PRIMARY KEY (product_id, hour, slot)
);
CREATE INDEX store_sales_by_hour ON store_sales_hourly (hour);

-- A restore gives back exactly what an order took, whatever the balance is by then: the
-- configured balance_max is the charge's rule, not a property of every balance.
ALTER TABLE store_wallets DROP CONSTRAINT store_wallet_balance_range;
ALTER TABLE store_wallets ADD CONSTRAINT store_wallet_balance_range CHECK (balance >= 0);

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_scope_known;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_scope_known
    CHECK (scope IN ('PRODUCT_CHANGE', 'POINTS_CHARGE', 'STORE_ORDER'));
