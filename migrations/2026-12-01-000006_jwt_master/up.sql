-- The master secret every instance derives its rotating JWT signing keys from, generated
-- by the first instance that starts (when [jwt] secret is empty). One row, never printed.
CREATE TABLE jwt_master (
    id          SMALLINT     PRIMARY KEY CHECK (id = 1),
    secret      BYTEA        NOT NULL CHECK (octet_length(secret) >= 32),
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
