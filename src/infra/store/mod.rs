//! The membership store's tables in PostgreSQL: wallets and their ledger, the shop's
//! products, coupon campaigns and issued coupons.

pub mod audit;
pub mod coupons;
pub mod orders;
pub mod shop;
pub mod wallets;
