DROP TABLE mvno_outbox;
