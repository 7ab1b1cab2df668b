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
    }
}

diesel::table! {
    bill_inquiry_history (id) {
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
    }
}
