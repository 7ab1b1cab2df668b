//! The membership store under real faults: PostgreSQL stopped and the binary killed mid-order.
