//! phonebill: the customer self-service backend of an MVNO.
//!
//! Layers (dependencies point inward): `http` → `actors` → `domain`; `infra` (the stores)
//! is used by actors and the command line. `startup` wires them; `settings` reads config.

pub mod actors;
pub mod domain;
pub mod http;
pub mod infra;
pub mod metrics;
pub mod seed;
pub mod settings;
pub mod simulator;
pub mod startup;
pub mod telemetry;
