use super::*;

#[test]
fn throttle_per_address_then_globally() {
    let t = Throttle::default();
    let a = Some(IpAddr::from([10, 0, 0, 1]));
    for _ in 0..PER_ADDR_BURST {
        assert!(t.check(a).is_ok());
        t.failed(a);
    }
    assert!(matches!(t.check(a), Err(Error::RateLimited { .. })));
    // Another address still has its tries, until everyone's are spent.
    let b = Some(IpAddr::from([10, 0, 0, 2]));
    assert!(t.check(b).is_ok());
    for i in 0..GLOBAL_BURST {
        t.failed(Some(IpAddr::from([
            10,
            1,
            (i / 250) as u8,
            (i % 250) as u8,
        ])));
    }
    assert!(t.check(b).is_err());
}

/// One address repeating one wrong guess spends one attempt, not all:
/// the correct secret from the same address still gets through; new
/// guesses still count.
#[test]
fn a_repeated_wrong_guess_costs_one_attempt() {
    let t = Throttle::default();
    let a = Some(IpAddr::from([127, 0, 0, 1]));
    let stale = guess(a, br#"{"secret":"old","userID":"admin"}"#);
    for _ in 0..PER_ADDR_BURST * 4 {
        assert!(t.check(a).is_ok());
        t.failed_guess(a, stale);
    }
    assert!(t.check(a).is_ok());
    // The same guess spelled differently is the same guess.
    t.failed_guess(a, guess(a, br#"{ "userID": "admin", "secret": "old" }"#));
    assert!(t.check(a).is_ok());
    // Another address's guess, or another secret, is a new one.
    assert_ne!(
        stale,
        guess(
            Some(IpAddr::from([127, 0, 0, 2])),
            br#"{"secret":"old","userID":"admin"}"#
        )
    );
    for i in 1..PER_ADDR_BURST {
        t.failed_guess(
            a,
            guess(
                a,
                format!(r#"{{"secret":"g{i}","userID":"admin"}}"#).as_bytes(),
            ),
        );
    }
    assert!(t.check(a).is_err());
}

/// The bucket on a clock of its own (no waiting): one attempt back per
/// `every`, never more than the burst, and the wait is for the part of
/// an attempt still missing.
#[test]
fn a_bucket_refills_one_attempt_per_period_up_to_its_burst() {
    let every = Duration::from_secs(6);
    let t0 = Instant::now();
    let mut b = Bucket::full(5, t0);
    assert_eq!(b.wait(every), None);
    b.left = 0.0;
    assert_eq!(b.wait(every), Some(every));
    b.refill(5, every, t0 + every / 2);
    assert!((b.left - 0.5).abs() < 1e-9, "{}", b.left);
    assert_eq!(b.wait(every), Some(every / 2));
    b.refill(5, every, t0 + every);
    assert!((b.left - 1.0).abs() < 1e-9, "{}", b.left);
    assert_eq!(b.wait(every), None);
    b.refill(5, every, t0 + every * 100);
    assert_eq!(b.left, 5.0);
}

/// The per-address table is bounded: when it is full, addresses whose
/// bucket has refilled are forgotten (a full bucket is what an unknown
/// address gets anyway) and ones still short of attempts are kept, so a
/// flood of new addresses can neither grow memory nor wipe a guesser's count.
#[test]
fn a_full_address_table_forgets_only_refilled_buckets() {
    let t = Throttle::default();
    let addr = |i: usize| Some(IpAddr::from([10, 2, (i / 256) as u8, (i % 256) as u8]));
    let refill_global = || t.state.lock().unwrap().global.left = f64::from(GLOBAL_BURST);
    for i in 0..MAX_ADDRS {
        t.failed(addr(i));
    }
    assert_eq!(t.state.lock().unwrap().per_addr.len(), MAX_ADDRS);
    // Full of buckets still short: a new address is not tracked...
    let newcomer = Some(IpAddr::from([10, 3, 0, 1]));
    t.failed(newcomer);
    assert_eq!(t.state.lock().unwrap().per_addr.len(), MAX_ADDRS);
    // ...while a known one keeps counting: four more failures spend it.
    for _ in 0..PER_ADDR_BURST - 1 {
        t.failed(addr(0));
    }
    refill_global();
    assert!(
        t.check(addr(0)).is_err(),
        "a known address stopped counting"
    );
    assert!(t.check(addr(1)).is_ok());
    // Half the buckets refill: they make room, the others stay.
    {
        let mut s = t.state.lock().unwrap();
        for i in (1..MAX_ADDRS).step_by(2) {
            if let Some(b) = s.per_addr.get_mut(&addr(i).unwrap()) {
                b.left = f64::from(PER_ADDR_BURST);
            }
        }
    }
    t.failed(newcomer);
    let len = t.state.lock().unwrap().per_addr.len();
    assert_eq!(
        len,
        MAX_ADDRS / 2 + 1,
        "refilled buckets forgotten, the newcomer kept"
    );
    refill_global();
    assert!(t.check(addr(0)).is_err(), "a guesser's count was wiped");
}
