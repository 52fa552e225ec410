//! The sampling budget of refused postbacks' logs. Anyone who knows an integration id (it is in
//! every postback URL handed to networks) can send refused postbacks, so each process keeps at
//! most [`PER_HOUR`] log entries per integration, reason and hour; every refusal is still
//! counted (one counter item per integration and hour). With the excerpt limit that bounds
//! what strangers can make us store: see the README's "Refused postbacks".

use std::collections::HashMap;
use std::sync::Mutex;

/// Log entries kept per integration, reason and hour, per process.
pub const PER_HOUR: u32 = 20;
/// Distinct (integration, reason) pairs tracked in one hour before the table is cleared (only
/// existing integrations get here, so this is generous).
const MAX_KEYS: usize = 50_000;

/// (integration, reason) → entries logged this hour.
type Used = HashMap<(String, String), u32>;

#[derive(Default)]
pub struct RefusalBudget {
    /// The hour (Unix hours) and what was used in it.
    used: Mutex<(i64, Used)>,
}

impl RefusalBudget {
    /// Whether this refusal's log entry may be kept (`unix_secs`: when it came).
    pub fn take(&self, integration_id: &str, reason: &str, unix_secs: i64) -> bool {
        let hour = unix_secs.div_euclid(3600);
        let Ok(mut used) = self.used.lock() else {
            return false;
        };
        let (current, counts) = &mut *used;
        if *current != hour || counts.len() >= MAX_KEYS {
            *current = hour;
            counts.clear();
        }
        let n = counts
            .entry((integration_id.to_string(), reason.to_string()))
            .or_default();
        *n += 1;
        *n <= PER_HOUR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_fixed_number_per_integration_reason_and_hour() {
        let budget = RefusalBudget::default();
        let kept = (0..100)
            .filter(|_| budget.take("I", "bad_token", 7_200))
            .count();
        assert_eq!(kept, PER_HOUR as usize);
        assert!(budget.take("I", "ip_not_allowed", 7_200));
        assert!(budget.take("J", "bad_token", 7_200));
        assert!(
            budget.take("I", "bad_token", 10_800),
            "a new hour, a new budget"
        );
    }
}
