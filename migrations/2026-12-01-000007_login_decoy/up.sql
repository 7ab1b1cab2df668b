-- A login for an unknown user id writes this one row, as a wrong password writes its
-- account's failure count: both paths cost PostgreSQL the same (a row update and a commit),
-- so their timing does not tell which user ids exist.
CREATE TABLE login_decoy (
    id        SMALLINT  PRIMARY KEY CHECK (id = 1),
    attempts  BIGINT    NOT NULL DEFAULT 0
);
INSERT INTO login_decoy (id) VALUES (1);
