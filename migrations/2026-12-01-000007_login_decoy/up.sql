-- A login for an unknown user id counts its attempt on this decoy account, with the same
-- statement a wrong password runs on a real one: both paths cost PostgreSQL the same (a
-- row of `users` updated, a commit), so their timing does not tell which user ids exist.
-- Its id and line can never be parsed, registered or logged in with.
INSERT INTO users (user_id, customer_id, line_number, user_name, password_hash, permissions,
                   account_status)
VALUES ('!decoy', '!decoy', '00000000000', 'decoy', '', '{}', 'DECOY');
