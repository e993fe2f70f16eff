use super::*;

const GIVEN: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_valid_traceparent_is_continued_with_a_new_span() {
    let (context, parent) = TraceContext::parse(GIVEN.as_bytes()).unwrap();
    assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex::encode(parent), "00f067aa0ba902b7");
    let next = context.traceparent();
    let next = next.to_str().unwrap();
    assert!(
        next.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{next}"
    );
    assert!(next.ends_with("-01"), "{next}");
    assert_ne!(&next[36..52], "00f067aa0ba902b7");
    assert!(TraceContext::parse(next.as_bytes()).is_some());
    // A later version may carry more fields after a dash.
    let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
    assert!(TraceContext::parse(future.as_bytes()).is_some());
}

#[test]
fn malformed_traceparents_are_refused() {
    for bad in [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ] {
        assert!(TraceContext::parse(bad.as_bytes()).is_none(), "{bad}");
    }
}

fn state(values: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for v in values {
        headers.append(TRACESTATE, HeaderValue::from_str(v).unwrap());
    }
    headers
}

#[test]
fn tracestate_lists_are_checked() {
    assert!(valid_tracestate(&state(&[
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    ])));
    assert!(valid_tracestate(&state(&["a=1", "tenant@vendor=x y"])));
    assert!(valid_tracestate(&state(&[])));
    assert!(!valid_tracestate(&state(&["Rojo=1"])));
    assert!(!valid_tracestate(&state(&["rojo"])));
    assert!(!valid_tracestate(&state(&["rojo=a=b"])));
    let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    assert!(!valid_tracestate(&state(&[&many.join(",")])));
    assert!(!valid_tracestate(&state(&[&format!(
        "k={}",
        "v".repeat(600)
    )])));
}

#[test]
fn traceparents_are_the_standard_lowercase_hex() {
    for flags in [0x00, 0x01, 0x5a, 0xff] {
        let context = TraceContext {
            flags,
            ..TraceContext::start()
        };
        let expected = format!(
            "00-{}-{}-{:02x}",
            hex::encode(context.trace_id),
            hex::encode(context.span_id),
            flags
        );
        assert_eq!(context.traceparent(), expected.as_str());
        assert_eq!(context.trace_id(), hex::encode(context.trace_id));
        let (parsed, parent) = TraceContext::parse(expected.as_bytes()).unwrap();
        assert_eq!(parsed.trace_id, context.trace_id);
        assert_eq!(parent, context.span_id);
    }
}
