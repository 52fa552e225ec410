//! Click activity for the silence watch: the hours in which an integration's offers got clicks.
//!
//! Clicks are the hottest path (10,000/s), so they are not counted per integration: each
//! process notes an hour for an integration once (one `Add` on `INT#<id>#CLICKHOURS` / `<hour>`,
//! after the click's own batch, never in it), which is all the watch needs ("clicks within the
//! window?"). A failed note is logged and tried again on the next click.

use crate::state::AppState;
use affnet_core::Click;
use std::collections::HashSet;
use std::sync::Mutex;

/// Integrations tracked in one hour before the table is cleared (only existing offers' clicks
/// get here, so this is generous).
const MAX_INTEGRATIONS: usize = 50_000;

/// Per process: the hour (Unix hours) and the integrations noted in it.
#[derive(Default)]
pub struct ClickHours {
    noted: Mutex<(i64, HashSet<String>)>,
}

impl ClickHours {
    /// Whether `integration_id` still needs its note for the hour of `unix_secs`; marks it.
    fn take(&self, integration_id: &str, unix_secs: i64) -> bool {
        let hour = unix_secs.div_euclid(3600);
        let Ok(mut noted) = self.noted.lock() else {
            return false;
        };
        let (current, seen) = &mut *noted;
        if *current != hour || seen.len() >= MAX_INTEGRATIONS {
            *current = hour;
            seen.clear();
        }
        seen.insert(integration_id.to_string())
    }

    fn give_back(&self, integration_id: &str) {
        if let Ok(mut noted) = self.noted.lock() {
            noted.1.remove(integration_id);
        }
    }
}

/// Notes the click's hour for its integration, once per process and hour.
pub async fn note_click(state: &AppState, click: &Click) {
    let integration = &click.integration_id;
    if !state.click_hours.take(integration, click.time.timestamp()) {
        return;
    }
    if let Err(e) = state.repo.note_click_hour(integration, click.time).await {
        tracing::warn!(%integration, error = %e, "click hour not noted");
        state.click_hours.give_back(integration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_note_per_integration_and_hour() {
        let hours = ClickHours::default();
        assert!(hours.take("I", 7_200));
        assert!(!hours.take("I", 7_300));
        assert!(hours.take("J", 7_300));
        assert!(hours.take("I", 10_800), "a new hour");
        hours.give_back("I");
        assert!(hours.take("I", 10_900), "given back after a failed note");
    }
}
