//! W3C Trace Context (`traceparent`, `tracestate`): a client's valid `traceparent` is
//! continued, a missing or malformed one (or several) replaced by a new trace; the upstream
//! receives `traceparent` with tokengate's own span as the parent, and the request carries
//! the [`TraceContext`] for the logs.

use std::convert::Infallible;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use rand::Rng;

/// `traceparent`.
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`.
pub(crate) const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The most `tracestate` list members (W3C Trace Context §3.3.1.1).
const MAX_TRACESTATE_MEMBERS: usize = 32;
/// The longest `tracestate` kept, all its fields together (the spec's 512-character floor).
const MAX_TRACESTATE_BYTES: usize = 512;

/// A request's trace: the trace id, this hop's span id and the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

impl TraceContext {
    /// Parses a `traceparent` value (version `00`, or a later one read as `00`, §4.3); `None`
    /// when it is malformed or has an all-zero id.
    pub(crate) fn parse(value: &[u8]) -> Option<(Self, [u8; 8])> {
        if value.len() < 55 || (value.len() > 55 && (value[..2] == *b"00" || value[55] != b'-')) {
            return None;
        }
        let version = hex_bytes::<1>(&value[0..2])?;
        if version[0] == 0xff || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let trace_id = hex_bytes::<16>(&value[3..35])?;
        let parent_id = hex_bytes::<8>(&value[36..52])?;
        let flags = hex_bytes::<1>(&value[53..55])?[0];
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        let context = TraceContext {
            trace_id,
            span_id: random_span_id(),
            flags,
        };
        Some((context, parent_id))
    }

    /// A new trace (not sampled: tokengate makes no sampling decision).
    pub(crate) fn start() -> Self {
        // One fill of 24 bytes: `rand::random::<[u8; N]>()` draws a 32-bit word per byte.
        let mut ids = [0u8; 24];
        rand::rng().fill_bytes(&mut ids);
        let mut trace_id: [u8; 16] = ids[..16].try_into().expect("16 bytes");
        if trace_id == [0; 16] {
            trace_id[15] = 1;
        }
        let mut span_id: [u8; 8] = ids[16..].try_into().expect("8 bytes");
        if span_id == [0; 8] {
            span_id[7] = 1;
        }
        TraceContext {
            trace_id,
            span_id,
            flags: 0,
        }
    }

    /// The trace id, 32 lowercase hex digits.
    pub(crate) fn trace_id(&self) -> String {
        let mut digits = [0u8; 32];
        lower_hex(&mut digits, &self.trace_id);
        String::from_utf8(digits.to_vec()).expect("hex digits")
    }

    /// The `traceparent` for the next hop: this trace, tokengate's span as the parent. Written
    /// digit by digit into a buffer of the value's fixed length (formatting `hex::encode`'s
    /// strings cost ~1.9k instructions per proxied request; BENCHMARKS.md, issue 13).
    pub(crate) fn traceparent(&self) -> HeaderValue {
        let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
        lower_hex(&mut value[3..35], &self.trace_id);
        lower_hex(&mut value[36..52], &self.span_id);
        lower_hex(&mut value[53..55], &[self.flags]);
        HeaderValue::from_bytes(&value).expect("hex digits and dashes")
    }
}

/// Writes `bytes` into `out` as lowercase hex digits, two a byte (`out` is twice as long).
fn lower_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

fn random_span_id() -> [u8; 8] {
    let mut id = [0u8; 8];
    rand::rng().fill_bytes(&mut id);
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

/// `N` bytes from `2 * N` lowercase hex digits (the spec allows no uppercase).
fn hex_bytes<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits
        .iter()
        .any(|d| !matches!(d, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// Whether the `tracestate` fields together are a list the spec allows: at most 32 members
/// `key=value`, 512 bytes, keys of `a-z0-9_-*/` (with one `@`), values of printable ASCII
/// without `,` or `=`.
fn valid_tracestate(headers: &HeaderMap) -> bool {
    let mut members = 0;
    let mut bytes = 0;
    for value in headers.get_all(TRACESTATE) {
        let value = value.as_bytes();
        bytes += value.len();
        for member in value.split(|b| *b == b',') {
            let member = member.trim_ascii();
            if member.is_empty() {
                continue;
            }
            members += 1;
            let Some(eq) = member.iter().position(|b| *b == b'=') else {
                return false;
            };
            let (key, value) = (&member[..eq], &member[eq + 1..]);
            let key_ok = !key.is_empty()
                && key.len() <= 256
                && key.iter().filter(|b| **b == b'@').count() <= 1
                && key.iter().all(
                    |b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@'),
                );
            let value_ok = !value.is_empty()
                && value.len() <= 256
                && value
                    .iter()
                    .all(|b| (0x20..=0x7e).contains(b) && *b != b',' && *b != b'=')
                && value.last() != Some(&b' ');
            if !key_ok || !value_ok {
                return false;
            }
        }
    }
    members <= MAX_TRACESTATE_MEMBERS && bytes <= MAX_TRACESTATE_BYTES
}

/// Sets the request's trace context (see the module docs) before `S` sees it.
#[derive(Debug, Clone)]
pub(crate) struct TraceContextService<S> {
    pub(crate) inner: S,
}

impl<S, B> tower::Service<Request<B>> for TraceContextService<S>
where
    S: tower::Service<Request<B>, Error = Infallible>,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let sent = SentFields(req.headers().len());
        req.extensions_mut().insert(sent);
        let headers = req.headers_mut();
        let mut given = headers.get_all(TRACEPARENT).iter();
        let continued = match (given.next(), given.next()) {
            (Some(one), None) => TraceContext::parse(one.as_bytes()).map(|(context, _)| context),
            _ => None,
        };
        let context = match continued {
            Some(context) => {
                if !valid_tracestate(headers) {
                    headers.remove(TRACESTATE);
                }
                context
            }
            None => {
                // A new trace: the state of another one does not belong to it.
                headers.remove(TRACESTATE);
                TraceContext::start()
            }
        };
        headers.insert(TRACEPARENT, context.traceparent());
        req.extensions_mut().insert(context);
        self.inner.call(req)
    }
}

/// How many header fields the client sent, before this layer changed `traceparent` and
/// `tracestate`: what the public listener's `max_headers` check counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SentFields(pub(crate) usize);

#[cfg(test)]
mod tests;
