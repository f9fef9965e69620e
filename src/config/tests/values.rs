//! Durations, counts, bounds.
use super::*;

#[test]
fn page_limit_is_clamped_but_garbage_is_refused() {
    assert_eq!(
        config(&[(env::PAGE_LIMIT, "9000")]).unwrap().page_limit,
        500
    );
    assert_eq!(config(&[(env::PAGE_LIMIT, "0")]).unwrap().page_limit, 1);
    assert_eq!(config(&[(env::PAGE_LIMIT, "200")]).unwrap().page_limit, 200);
    let err = config(&[(env::PAGE_LIMIT, "many")]).unwrap_err();
    assert!(err.to_string().contains("PAGE_LIMIT"), "{err}");
}

#[test]
fn batch_bounds_have_defaults_and_refuse_what_memory_cannot_hold() {
    const MIB: u64 = 1024 * 1024;
    // (settings, events bound, bytes bound) or the variable an error names.
    let ok = [
        (vec![], 50_000, 64 * MIB),
        (vec![(env::BATCH_MAX_EVENTS, "1")], 1, 64 * MIB),
        (vec![(env::BATCH_MAX_EVENTS, "200000")], 200_000, 64 * MIB),
        (vec![(env::BATCH_MAX_MIB, "1024")], 50_000, 1024 * MIB),
        (vec![(env::BATCH_MAX_MIB, " 8 ")], 50_000, 8 * MIB),
    ];
    for (settings, events, bytes) in ok {
        let b = config(&settings).unwrap().batch_bounds;
        assert_eq!((b.max_events, b.max_bytes), (events, bytes), "{settings:?}");
    }
    let refused = [
        (env::BATCH_MAX_EVENTS, "0"),
        (env::BATCH_MAX_EVENTS, "200001"),
        (env::BATCH_MAX_EVENTS, "-5"),
        (env::BATCH_MAX_EVENTS, "lots"),
        (env::BATCH_MAX_MIB, "0"),
        (env::BATCH_MAX_MIB, "1025"),
        (env::BATCH_MAX_MIB, "1.5"),
    ];
    for (name, value) in refused {
        let err = config(&[(name, value)]).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains("memory"), "{err}");
    }
}

#[test]
fn lookback_accepts_durations_up_to_retention() {
    assert_eq!(
        config(&[(env::INITIAL_LOOKBACK, "36h")])
            .unwrap()
            .initial_lookback,
        Duration::from_secs(36 * 3600)
    );
    assert!(config(&[(env::INITIAL_LOOKBACK, "180d")]).is_ok());
    assert!(config(&[(env::INITIAL_LOOKBACK, "181d")]).is_err());
    assert!(config(&[(env::INITIAL_LOOKBACK, "a week")]).is_err());
}

#[test]
fn timeouts_default_and_are_bounded() {
    let c = config(&[]).unwrap();
    assert_eq!(c.api_request_timeout, DEFAULT_API_REQUEST_TIMEOUT);
    assert_eq!(c.aws_attempt_timeout, DEFAULT_AWS_ATTEMPT_TIMEOUT);
    let c = config(&[
        (env::API_REQUEST_TIMEOUT, "750ms"),
        (env::AWS_ATTEMPT_TIMEOUT, "2s"),
    ])
    .unwrap();
    assert_eq!(c.api_request_timeout, Duration::from_millis(750));
    assert_eq!(c.aws_attempt_timeout, Duration::from_secs(2));
    for bad in ["0s", "10ms", "1h", "soon", "-1s"] {
        let err = config(&[(env::API_REQUEST_TIMEOUT, bad)]).unwrap_err();
        assert!(err.to_string().contains(env::API_REQUEST_TIMEOUT), "{err}");
    }
    assert!(config(&[(env::AWS_ATTEMPT_TIMEOUT, "6m")]).is_err());
}
