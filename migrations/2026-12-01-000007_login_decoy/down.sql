DROP TABLE login_decoy;
