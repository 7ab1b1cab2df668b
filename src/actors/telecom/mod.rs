//! Telecom's actors: the KOS gateway with its circuit breakers, the bill/product cache, the
//! bill-inquiry history writer, the MVNO notifier, product changes and their reconciler.

pub mod cache;
pub mod history;
pub mod kos_gateway;
pub mod notifier;
pub mod product_change;
pub mod reconciler;
