// Diesel table definitions; keep in step with `migrations/`.

diesel::table! {
    users (user_id) {
        user_id -> Varchar,
        customer_id -> Varchar,
        line_number -> Bpchar,
        user_name -> Varchar,
        password_hash -> Text,
        permissions -> Array<Text>,
        account_status -> Varchar,
        failed_login_count -> Int4,
        locked_until -> Nullable<Timestamptz>,
        last_login_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    mvno_outbox (id) {
        id -> Int8,
        kind -> Varchar,
        event_id -> Varchar,
        payload -> Jsonb,
        created_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        leased_until -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        set_aside_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    bill_inquiry_history (request_id) {
        id -> Int8,
        request_id -> Varchar,
        user_id -> Varchar,
        line_number -> Bpchar,
        inquiry_month -> Bpchar,
        request_time -> Timestamptz,
        process_time -> Timestamptz,
        status -> Varchar,
        result_code -> Varchar,
        result_message -> Text,
        kos_response_ms -> Nullable<Int4>,
        cache_hit -> Bool,
        result -> Nullable<Jsonb>,
        snapshot_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    bill_snapshots (id) {
        id -> Uuid,
        bill -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    product_change_requests (id) {
        id -> Int8,
        request_id -> Varchar,
        user_id -> Varchar,
        line_number -> Bpchar,
        current_product_code -> Varchar,
        target_product_code -> Varchar,
        status -> Varchar,
        result_code -> Nullable<Varchar>,
        result_message -> Nullable<Text>,
        response -> Nullable<Jsonb>,
        requested_at -> Timestamptz,
        processed_at -> Nullable<Timestamptz>,
        check_attempts -> Int4,
        next_check_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, scope, idem_key) {
        user_id -> Varchar,
        scope -> Varchar,
        idem_key -> Varchar,
        fingerprint -> Text,
        request_id -> Varchar,
        answer -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    store_wallets (user_id) {
        user_id -> Varchar,
        balance -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    store_ledger (id) {
        id -> Int8,
        transaction_id -> Uuid,
        user_id -> Varchar,
        kind -> Varchar,
        amount -> Int8,
        balance_after -> Int8,
        order_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    store_products (product_id) {
        product_id -> Int8,
        name -> Varchar,
        price -> Int8,
        stock -> Int4,
        stocked -> Int4,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    store_coupon_campaigns (campaign_id) {
        campaign_id -> Int8,
        code -> Varchar,
        name -> Varchar,
        discount_type -> Varchar,
        discount_value -> Int8,
        max_discount -> Nullable<Int8>,
        min_order_amount -> Int8,
        total_quantity -> Int4,
        issued -> Int4,
        issue_starts_at -> Timestamptz,
        issue_ends_at -> Timestamptz,
        valid_days -> Int4,
        eligible_operator -> Nullable<Varchar>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    store_coupons (coupon_id) {
        coupon_id -> Int8,
        campaign_id -> Int8,
        user_id -> Varchar,
        status -> Varchar,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        order_id -> Nullable<Uuid>,
    }
}

diesel::joinable!(store_coupons -> store_coupon_campaigns (campaign_id));
diesel::joinable!(bill_inquiry_history -> bill_snapshots (snapshot_id));
diesel::allow_tables_to_appear_in_same_query!(bill_inquiry_history, bill_snapshots);
diesel::allow_tables_to_appear_in_same_query!(store_coupons, store_coupon_campaigns);
