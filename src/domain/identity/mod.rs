//! Identity: who a user is (account, line, customer), what they may do (permissions),
//! how they prove it (tokens), and what guards the door (lockout, registration rules).
//! Every other context imports identity from here.

pub mod line_number;
pub mod lockout;
pub mod permission;
pub mod principal;
pub mod registration;
pub mod token;
pub mod user;

pub use line_number::LineNumber;
pub use permission::{Permission, Permissions};
pub use principal::Principal;
pub use user::{AccountStatus, CustomerId, Duplicate, NewPassword, UserId, UserName};
