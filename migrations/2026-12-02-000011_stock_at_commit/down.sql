DROP TRIGGER store_order_item_takes_stock ON store_order_items;
DROP FUNCTION store_order_item_takes_stock();
