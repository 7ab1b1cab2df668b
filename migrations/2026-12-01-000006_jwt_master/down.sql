DROP TABLE jwt_master;
