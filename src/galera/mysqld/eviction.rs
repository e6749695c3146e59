//! After an unclean stop, how long to wait before rejoining (pure): Galera's
//! `evs.inactive_timeout` from the provider options, and the wait it implies.

use std::time::Duration;

/// Galera's `evs.inactive_timeout` from the provider options (ISO 8601, e.g. `PT15S`), or its
/// default of 15 s: how long peers may keep a dead member in their view.
pub fn evs_inactive_timeout(provider_options: &str) -> Duration {
    provider_options
        .split(';')
        .filter_map(|o| o.split_once('='))
        .find(|(k, _)| k.trim() == "evs.inactive_timeout")
        .and_then(|(_, v)| parse_iso_duration(v.trim()))
        .unwrap_or(Duration::from_secs(15))
}

/// `PT1M30S`, `PT8S`, `PT0.5S` → a duration (the forms Galera uses).
fn parse_iso_duration(v: &str) -> Option<Duration> {
    let rest = v.strip_prefix("PT")?;
    let (mut total, mut num) = (0f64, String::new());
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'H' | 'M' | 'S' => {
                let n: f64 = num.parse().ok()?;
                total += n * match c {
                    'H' => 3600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                num.clear();
            }
            _ => return None,
        }
    }
    num.is_empty().then(|| Duration::from_secs_f64(total))
}

/// After an unclean stop (the previous run ended with mariadbd running), how much longer to wait before
/// rejoining under the same address, so peers have evicted the previous incarnation: a
/// rejoin inside that window can leave every node non-Primary. `last_alive` is when the
/// previous run last saw mariadbd up (None: unknown, wait the whole timeout).
pub fn eviction_wait(last_alive: Option<i64>, now: i64, inactive: Duration) -> Duration {
    let since = last_alive.map(|t| (now - t).max(0) as u64).unwrap_or(0);
    (inactive + Duration::from_secs(2)).saturating_sub(Duration::from_secs(since))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_wait_table() {
        assert_eq!(
            evs_inactive_timeout("gcache.size=16M;evs.inactive_timeout=PT8S"),
            Duration::from_secs(8)
        );
        assert_eq!(
            evs_inactive_timeout("evs.inactive_timeout = PT1M30S"),
            Duration::from_secs(90)
        );
        assert_eq!(
            evs_inactive_timeout("gcache.size=16M"),
            Duration::from_secs(15)
        );
        assert_eq!(
            evs_inactive_timeout("evs.inactive_timeout=garbage"),
            Duration::from_secs(15)
        );
        let t = Duration::from_secs(8);
        assert_eq!(eviction_wait(Some(100), 101, t), Duration::from_secs(9));
        assert_eq!(eviction_wait(Some(100), 200, t), Duration::ZERO);
        assert_eq!(eviction_wait(None, 200, t), Duration::from_secs(10));
        assert_eq!(
            eviction_wait(Some(300), 200, t),
            Duration::from_secs(10),
            "clock skew: full wait"
        );
    }
}
