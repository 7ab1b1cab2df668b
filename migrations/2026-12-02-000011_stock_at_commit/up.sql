-- An order's stock is taken when its reserve commits, by a deferred constraint trigger on
-- its items, instead of by a statement in the middle of the transaction: a product's row
-- is then locked only while the transaction commits (the reserve's commit does not wait for
-- its WAL flush), not for a round trip between a statement and the COMMIT, so orders of one
-- hot product queue for microseconds each. A line short of stock makes the CHECK on
-- `stock` fail at the commit, which rolls the whole reserve back. Items of an order that is
-- not PENDING when its transaction commits (a refused order's record) take nothing.
CREATE FUNCTION store_order_item_takes_stock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM store_orders WHERE order_id = NEW.order_id AND status = 'PENDING') THEN
        UPDATE store_products SET stock = stock - NEW.quantity, updated_at = now()
         WHERE product_id = NEW.product_id;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER store_order_item_takes_stock
    AFTER INSERT ON store_order_items
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION store_order_item_takes_stock();
