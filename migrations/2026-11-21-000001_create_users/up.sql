-- Accounts of the self-service web. Lockout counters live here so every instance shares them.
CREATE TABLE users (
    user_id            VARCHAR(20)  PRIMARY KEY,
    customer_id        VARCHAR(20)  NOT NULL,
    line_number        CHAR(11)     NOT NULL,
    user_name          VARCHAR(50)  NOT NULL,
    password_hash      TEXT         NOT NULL,
    permissions        TEXT[]       NOT NULL DEFAULT '{}',
    account_status     VARCHAR(16)  NOT NULL DEFAULT 'ACTIVE',
    failed_login_count INTEGER      NOT NULL DEFAULT 0,
    locked_until       TIMESTAMPTZ,
    last_login_at      TIMESTAMPTZ,
    created_at         TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT users_line_number_key UNIQUE (line_number)
);
