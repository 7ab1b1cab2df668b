DROP TABLE bill_inquiry_history;
