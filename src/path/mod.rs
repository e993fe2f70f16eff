//! One canonical request target, decided once: what scope rules match and what the upstream
//! receives, so the path checked is the path forwarded.
//!
//! [`PathOptions::canonicalize_request`] decides a request's target (a path, or `OPTIONS *`;
//! anything else is refused) and rewrites its URI to the canonical form that
//! [`PathOptions::canonical_path`] computes: RFC 3986 §6.2.2 normalisation (unreserved
//! characters decoded, the hex of other escapes upper-cased), merged slashes, and a refusal
//! ([`PathError`], answered `400`) for every spelling that has no single meaning: `%2F`,
//! backslashes, control characters, dot segments (encoded, hidden by `;params`, or plain).
//! The choices an upstream may need otherwise are [`PathOptions`]' settings, each with its
//! risk. [`OAuthLayer`](crate::auth::OAuthLayer) does this first for every request.
//!
//! ```
//! use tokengate::path::{PathError, PathOptions};
//!
//! let options = PathOptions::default();
//! assert_eq!(options.canonical_path("//%61dmin/x").unwrap(), "/admin/x");
//! assert_eq!(options.canonical_path("/%2Fadmin/x"), Err(PathError::EncodedSlash));
//! ```

mod canonical;
mod error;
mod segments;
mod target;

pub use canonical::{DotSegments, EscapedSlashes, PathOptions};
pub use error::PathError;
pub(crate) use segments::{lists_method, same_name_blind, segment_names};
pub use target::{SentTarget, TargetForm};
