//! The authorization endpoint's rules: the typed request ([`request`]) and the one decision every path that
//! issues a code goes through ([`decide`]).

pub mod decide;
pub mod pushed;
pub mod request;

pub use decide::{AuthorizeDecision, ConsentState, SessionView, decide};
pub use request::{AuthorizationRequest, ClientView, Prompt, Redirectable, ResponseMode, Unanswerable};
