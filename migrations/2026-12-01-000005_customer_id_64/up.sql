-- Customer ids are 1-64 characters (the web client generates 20; KOS may use longer ones).
ALTER TABLE users ALTER COLUMN customer_id TYPE VARCHAR(64);
