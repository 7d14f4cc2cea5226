//! Properties of the domain model: every newtype parser round-trips, never panics and agrees
//! with an independent predicate written here from the documented rules; money arithmetic
//! never wraps; the AppStatus transition table matches the documented lifecycle.

use paas_core::ErrorKind;
use paas_core::model::{
    AppId, AppStatus, DomainName, EnvKey, Hostname, Money, NodeName, OperationId, OrgId, PlanId,
    Port, ReleaseId, Slug, Vmid,
};
use proptest::prelude::*;
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;
use std::str::FromStr;

// --- independent predicates, from the rules in the docs ---

/// The value of an optionally signed decimal integer (`+` only, after trimming whitespace), if
/// it fits in u64; leading zeros allowed.
fn unsigned(s: &str) -> Option<u64> {
    let t = s.trim_matches(char::is_whitespace);
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 19 {
        return None;
    }
    Some(
        significant
            .chars()
            .fold(0u64, |n, c| n * 10 + u64::from(c as u8 - b'0')),
    )
}

fn vmid_ok(s: &str) -> bool {
    unsigned(s).is_some_and(|n| (100..=999_999_999).contains(&n))
}

fn port_ok(s: &str) -> bool {
    unsigned(s).is_some_and(|n| (1..=65_535).contains(&n))
}

fn label_ok(s: &str, lowercase_only: bool) -> bool {
    let allowed = |c: char| {
        c.is_ascii_digit()
            || c == '-'
            || c.is_ascii_lowercase()
            || (!lowercase_only && c.is_ascii_uppercase())
    };
    (1..=63).contains(&s.len())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars().all(allowed)
}

fn hostname_ok(s: &str) -> bool {
    (1..=253).contains(&s.len()) && s.split('.').all(|l| label_ok(l, false))
}

/// The stored form of a domain name, if valid: one trailing dot dropped, ASCII lowercased.
fn domain_norm(s: &str) -> Option<String> {
    let lowered = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let labels: Vec<&str> = lowered.split('.').collect();
    let tld_ok = labels
        .last()
        .is_some_and(|l| !l.chars().all(|c| c.is_ascii_digit()));
    (hostname_ok(&lowered) && labels.len() >= 2 && tld_ok).then_some(lowered)
}

fn env_key_ok(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && s.len() <= 255 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Micro-units of a decimal amount: optional sign, digits, optional `.` and up to 6 digits,
/// at least one digit, fitting in i64.
fn money_value(s: &str) -> Option<i64> {
    let t = s.trim_matches(char::is_whitespace);
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (units, frac) = match body.find('.') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, ""),
    };
    let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if (units.is_empty() && frac.is_empty()) || !digits(units) || !digits(frac) || frac.len() > 6 {
        return None;
    }
    let mut micros: i128 = 0;
    for c in units.trim_start_matches('0').chars() {
        micros = micros * 10 + i128::from(c as u8 - b'0');
        if micros > i128::from(i64::MAX) {
            return None;
        }
    }
    let mut frac_micros: i128 = 0;
    for i in 0..6 {
        let d = frac.as_bytes().get(i).map_or(0, |b| i128::from(b - b'0'));
        frac_micros = frac_micros * 10 + d;
    }
    let total = micros * 1_000_000 + frac_micros;
    let total = i64::try_from(total).ok()?;
    Some(if negative { -total } else { total })
}

fn hex_ok(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_hexdigit())
}

fn hyphenated_ok(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    s.len() == 36
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| hex_ok(g))
}

/// The textual UUID forms: 32 hex digits, hyphenated 8-4-4-4-12, braced, or `urn:uuid:`.
fn uuid_ok(s: &str) -> bool {
    if s.len() == 32 {
        return hex_ok(s);
    }
    if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        return hyphenated_ok(inner);
    }
    if s.len() == 45 && s.is_char_boundary(9) && s[..9].eq_ignore_ascii_case("urn:uuid:") {
        return hyphenated_ok(&s[9..]);
    }
    hyphenated_ok(s)
}

// --- strategies ---

fn lower_label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
}

fn any_label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
}

fn hostname() -> impl Strategy<Value = String> {
    prop::collection::vec(any_label(), 1..6)
        .prop_map(|labels| labels.join("."))
        .prop_filter("at most 253 characters", |h| h.len() <= 253)
}

fn domain() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(any_label(), 1..4),
        "[a-zA-Z][a-zA-Z0-9]{1,10}",
        any::<bool>(),
    )
        .prop_map(|(mut labels, tld, dot)| {
            labels.push(tld);
            let mut d = labels.join(".");
            if dot {
                d.push('.');
            }
            d
        })
        .prop_filter("at most 253 characters", |d| {
            d.trim_end_matches('.').len() <= 253
        })
}

/// Strings close to valid names, so both sides of each predicate are exercised.
fn near_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._-]{0,70}",
        "[a-z0-9-]{0,3}(\\.[a-z0-9-]{0,3}){0,3}\\.?",
        "[0-9a-zA-Z_ ]{0,10}",
        "[a-z]{60,66}",
        "[a-z]{1,63}(\\.[a-z]{1,63}){3,4}",
    ]
}

fn near_number() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ ]?[+-]?[0-9]{0,12}(\\.[0-9]{0,8})?[ ]?",
        "[0-9.+-]{0,8}",
        "[+-]?0*[0-9]{15,21}(\\.[0-9]{1,7})?",
    ]
}

fn near_uuid() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-fA-F-]{30,40}",
        "\\{?[0-9a-f]{8}-[0-9a-fA-F]{4}-[0-9a-f]{4}-[0-9a-g]{4}-[0-9a-f]{12}\\}?",
        "(urn|URN|urm):uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[0-9a-fx]{31,33}",
    ]
}

/// Any input at all: printable, arbitrary unicode, or close to valid.
fn any_input() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        any::<String>(),
        near_name(),
        near_number(),
        near_uuid()
    ]
}

// --- generic properties ---

fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: FromStr<Err = paas_core::Error> + ToString + PartialEq + Debug,
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let shown = value.to_string();
    let parsed: T = shown
        .parse()
        .map_err(|e| TestCaseError::fail(format!("{shown:?}: {e}")))?;
    prop_assert_eq!(&parsed, value);
    let json = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T =
        serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{json}: {e}")))?;
    prop_assert_eq!(&back, value);
    Ok(())
}

/// Parsing never panics, agrees with `valid`, and a refusal is `InvalidInput`.
fn agrees<T: FromStr<Err = paas_core::Error> + Debug>(
    s: &str,
    valid: bool,
) -> Result<(), TestCaseError> {
    match s.parse::<T>() {
        Ok(v) => prop_assert!(valid, "{s:?} parsed as {v:?} but the rules reject it"),
        Err(e) => {
            prop_assert!(!valid, "{s:?} was refused ({e}) but the rules accept it");
            prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn vmid_round_trips(n in Vmid::MIN..=Vmid::MAX) {
        let v = Vmid::new(n).map_err(|e| TestCaseError::fail(e.to_string()))?;
        round_trips(&v)?;
        prop_assert_eq!(v.get(), n);
    }

    #[test]
    fn vmid_parser_agrees_with_the_rules(s in any_input()) {
        agrees::<Vmid>(&s, vmid_ok(&s))?;
    }

    #[test]
    fn vmid_new_checks_the_range(n in any::<u32>()) {
        prop_assert_eq!(Vmid::new(n).is_ok(), (100..=999_999_999).contains(&n));
        prop_assert_eq!(serde_json::from_str::<Vmid>(&n.to_string()).is_ok(), (100..=999_999_999).contains(&n));
    }

    #[test]
    fn port_round_trips(n in 1u16..=u16::MAX) {
        let p = Port::new(n).map_err(|e| TestCaseError::fail(e.to_string()))?;
        round_trips(&p)?;
    }

    #[test]
    fn port_parser_agrees_with_the_rules(s in any_input()) {
        agrees::<Port>(&s, port_ok(&s))?;
    }

    #[test]
    fn node_name_round_trips(s in any_label()) {
        let n: NodeName = s.parse().map_err(|e: paas_core::Error| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(n.as_str(), s.as_str());
        round_trips(&n)?;
    }

    #[test]
    fn node_name_parser_agrees_with_the_rules(s in any_input()) {
        agrees::<NodeName>(&s, label_ok(&s, false))?;
    }

    #[test]
    fn slug_round_trips(s in lower_label()) {
        let n: Slug = s.parse().map_err(|e: paas_core::Error| TestCaseError::fail(e.to_string()))?;
        round_trips(&n)?;
    }

    #[test]
    fn slug_parser_agrees_with_the_rules(s in any_input()) {
        agrees::<Slug>(&s, label_ok(&s, true))?;
    }

    #[test]
    fn slug_from_name_is_valid_or_none(s in any_input()) {
        if let Some(slug) = Slug::from_name(&s) {
            prop_assert!(label_ok(slug.as_str(), true), "from_name({s:?}) = {slug:?}");
        }
    }

    #[test]
    fn hostname_round_trips(s in hostname()) {
        let h: Hostname = s.parse().map_err(|e: paas_core::Error| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(h.as_str(), s.as_str());
        round_trips(&h)?;
    }

    #[test]
    fn hostname_parser_agrees_with_the_rules(s in any_input()) {
        agrees::<Hostname>(&s, hostname_ok(&s))?;
    }

    #[test]
    fn domain_name_round_trips_in_lowercase(s in domain()) {
        let d: DomainName = s.parse().map_err(|e: paas_core::Error| TestCaseError::fail(e.to_string()))?;
        let expected = s.strip_suffix('.').unwrap_or(&s).to_ascii_lowercase();
        prop_assert_eq!(d.as_str(), expected.as_str());
        round_trips(&d)?;
    }

    #[test]
    fn domain_name_parser_agrees_with_the_rules(s in any_input()) {
        agrees::<DomainName>(&s, domain_norm(&s).is_some())?;
        if let (Ok(d), Some(norm)) = (s.parse::<DomainName>(), domain_norm(&s)) {
            prop_assert_eq!(d.as_str(), norm.as_str());
        }
    }

    #[test]
    fn env_key_round_trips(s in "[A-Za-z_][A-Za-z0-9_]{0,254}") {
        let k: EnvKey = s.parse().map_err(|e: paas_core::Error| TestCaseError::fail(e.to_string()))?;
        round_trips(&k)?;
    }

    #[test]
    fn env_key_parser_agrees_with_the_rules(s in prop_oneof![any_input(), "[A-Za-z0-9_]{250,260}"]) {
        agrees::<EnvKey>(&s, env_key_ok(&s))?;
    }

    #[test]
    fn money_round_trips(micros in i64::MIN..=i64::MAX) {
        round_trips(&Money::from_micros(micros))?;
    }

    #[test]
    fn money_parser_agrees_with_the_rules(s in any_input()) {
        agrees::<Money>(&s, money_value(&s).is_some())?;
        if let (Ok(m), Some(v)) = (s.parse::<Money>(), money_value(&s)) {
            prop_assert_eq!(m.micros(), v);
        }
    }

    #[test]
    fn money_add_and_sub_are_checked_and_inverse(a in any::<i64>(), b in any::<i64>()) {
        let (ma, mb) = (Money::from_micros(a), Money::from_micros(b));
        let sum = i128::from(a) + i128::from(b);
        match ma.checked_add(mb) {
            Ok(c) => {
                prop_assert_eq!(i128::from(c.micros()), sum);
                prop_assert_eq!(c.checked_sub(mb).map(Money::micros).ok(), Some(a));
            }
            Err(e) => {
                prop_assert!(i64::try_from(sum).is_err(), "{a} + {b} refused although it fits");
                prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
            }
        }
        let diff = i128::from(a) - i128::from(b);
        match ma.checked_sub(mb) {
            Ok(c) => {
                prop_assert_eq!(i128::from(c.micros()), diff);
                prop_assert_eq!(c.checked_add(mb).map(Money::micros).ok(), Some(a));
            }
            Err(_) => prop_assert!(i64::try_from(diff).is_err(), "{a} - {b} refused although it fits"),
        }
    }

    #[test]
    fn money_mul_is_checked(a in any::<i64>(), n in prop_oneof![any::<i64>(), -1000i64..1000]) {
        let product = i128::from(a) * i128::from(n);
        match Money::from_micros(a).checked_mul(n) {
            Ok(c) => prop_assert_eq!(i128::from(c.micros()), product),
            Err(_) => prop_assert!(i64::try_from(product).is_err(), "{a} x {n} refused although it fits"),
        }
    }

    #[test]
    fn uuid_ids_round_trip(bits in any::<u128>()) {
        let u = uuid::Uuid::from_u128(bits);
        round_trips(&OrgId::from_uuid(u))?;
        round_trips(&AppId::from_uuid(u))?;
        round_trips(&ReleaseId::from_uuid(u))?;
        round_trips(&OperationId::from_uuid(u))?;
        round_trips(&PlanId::from_uuid(u))?;
    }

    #[test]
    fn uuid_id_parsers_agree_with_the_rules(s in any_input()) {
        let valid = uuid_ok(&s);
        agrees::<OrgId>(&s, valid)?;
        agrees::<AppId>(&s, valid)?;
        agrees::<ReleaseId>(&s, valid)?;
        agrees::<OperationId>(&s, valid)?;
        agrees::<PlanId>(&s, valid)?;
    }

    /// Random targets applied with `transition`: a legal one is taken, an illegal one refused
    /// and ignored. The walk only ever takes edges of the documented lifecycle, and nothing
    /// leaves Deleted.
    #[test]
    fn random_walks_only_take_legal_transitions(targets in prop::collection::vec(0usize..9, 0..60)) {
        let mut at = AppStatus::Created;
        for i in targets {
            let to = AppStatus::ALL[i];
            match at.transition(to) {
                Ok(next) => {
                    prop_assert_eq!(next, to);
                    prop_assert!(documented(at, to), "{at} -> {to} taken but not in the lifecycle");
                    prop_assert!(at != AppStatus::Deleted || to == AppStatus::Deleted);
                    at = next;
                }
                Err(e) => {
                    prop_assert!(!documented(at, to), "{at} -> {to} refused: {e}");
                    prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
                }
            }
        }
    }
}

/// The lifecycle of `AppStatus`'s documentation, transcribed edge by edge (staying put is
/// legal everywhere).
fn documented(from: AppStatus, to: AppStatus) -> bool {
    use AppStatus::*;
    const EDGES: &[(AppStatus, AppStatus)] = &[
        (Created, Deploying),
        (Deploying, Running),
        (Running, Stopped),
        (Stopped, Running),
        (Deploying, Failed),
        (Failed, Deploying),
        (Running, Suspended),
        (Stopped, Suspended),
        (Suspended, Running),
        (Suspended, Stopped),
        (Running, Lost),
        (Stopped, Lost),
        (Suspended, Lost),
        (Lost, Deploying),
        (Running, Deploying),
        (Stopped, Deploying),
        (Deleting, Deleted),
        // In the table but not in the doc diagram: a deploy may end stopped (the app was
        // stopped when redeployed), and the reconciler corrects a lost app it finds again.
        (Deploying, Stopped),
        (Lost, Running),
        (Lost, Stopped),
    ];
    from == to || (to == Deleting && from != Deleted) || EDGES.contains(&(from, to))
}

#[test]
fn transition_table_is_the_documented_lifecycle() {
    for from in AppStatus::ALL {
        for to in AppStatus::ALL {
            assert_eq!(from.can_become(to), documented(from, to), "{from} -> {to}");
            assert_eq!(
                from.transition(to).is_ok(),
                from.can_become(to),
                "{from} -> {to}"
            );
        }
    }
}

#[test]
fn deleted_is_final() {
    for to in AppStatus::ALL
        .into_iter()
        .filter(|s| *s != AppStatus::Deleted)
    {
        let err = AppStatus::Deleted.transition(to).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("deleted"), "{err}");
    }
    // Only Deleting leads to Deleted.
    for from in AppStatus::ALL {
        let expected = matches!(from, AppStatus::Deleting | AppStatus::Deleted);
        assert_eq!(
            from.can_become(AppStatus::Deleted),
            expected,
            "{from} -> deleted"
        );
    }
}

fn reachable_from(start: AppStatus) -> BTreeSet<AppStatus> {
    let mut seen = BTreeSet::from([start]);
    let mut todo = VecDeque::from([start]);
    while let Some(s) = todo.pop_front() {
        for to in AppStatus::ALL {
            if s.can_become(to) && seen.insert(to) {
                todo.push_back(to);
            }
        }
    }
    seen
}

#[test]
fn every_status_is_reachable_from_created() {
    let all: BTreeSet<AppStatus> = AppStatus::ALL.into_iter().collect();
    assert_eq!(reachable_from(AppStatus::Created), all);
}

#[test]
fn deleted_is_reachable_from_every_status() {
    for s in AppStatus::ALL {
        assert!(reachable_from(s).contains(&AppStatus::Deleted), "{s}");
    }
}

#[test]
fn status_names_round_trip() {
    for s in AppStatus::ALL {
        assert_eq!(s.to_string().parse::<AppStatus>().unwrap(), s);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<AppStatus>(&json).unwrap(), s);
    }
    assert_eq!(
        "Running".parse::<AppStatus>().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

/// The most negative amount has no positive i64 magnitude: parsing must not build the
/// magnitude in i64 first (a bug this test caught).
#[test]
fn most_negative_money_round_trips() {
    let min = Money::from_micros(i64::MIN);
    assert_eq!(min.to_string().parse::<Money>().unwrap(), min);
}
