DELETE FROM users WHERE user_id = '!decoy';
