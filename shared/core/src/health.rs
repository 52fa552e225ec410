//! Integration health, the pure part: the silence watch (an integration whose offers get clicks
//! but whose network has had no postback accepted for `silence_hours`), its transitions, and
//! which of the troubleshooting causes the postback figures look like.
//!
//! Figures are counted per hour, so the watch works to the hour: "no postback accepted for
//! `silence_hours`" reads the hours from the one `silence_hours` ago onwards.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

/// `settings.silence_hours` when absent.
pub const DEFAULT_SILENCE_HOURS: u32 = 24;
pub const MIN_SILENCE_HOURS: u32 = 1;
pub const MAX_SILENCE_HOURS: u32 = 720;

/// The start of the hour `at` falls in.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::hours(1)).unwrap_or(at)
}

/// The stored state of an integration's silence watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceState {
    pub silent: bool,
    /// When the current state began (`integration.silent` or `integration.recovered`).
    pub since: DateTime<Utc>,
    /// What it looked like when it went silent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The store's version of the item (0: never stored).
    #[serde(skip)]
    pub version: u64,
}

/// What one check saw, over the last `silence_hours` (to the hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub now: DateTime<Utc>,
    pub silence_hours: u32,
    /// When the integration was created: a younger one cannot have been silent that long.
    pub created_at: DateTime<Utc>,
    /// Clicks on the integration's offers within the window.
    pub clicks: bool,
    /// A postback accepted within the window.
    pub accepted: bool,
    /// While silent: a postback accepted in or after the hour the silence began.
    pub accepted_since_silent: bool,
}

impl Watch {
    /// The first hour the window reads.
    pub fn window_start(now: DateTime<Utc>, silence_hours: u32) -> DateTime<Utc> {
        hour_of(now - Duration::hours(i64::from(silence_hours)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Silent,
    Recovered,
}

/// The transition this check makes from `state` (`None`: never silent), if any.
pub fn transition(state: Option<&SilenceState>, watch: &Watch) -> Option<Transition> {
    if state.is_some_and(|s| s.silent) {
        return watch.accepted_since_silent.then_some(Transition::Recovered);
    }
    let old_enough =
        watch.now - watch.created_at >= Duration::hours(i64::from(watch.silence_hours));
    (old_enough && watch.clicks && !watch.accepted).then_some(Transition::Silent)
}

/// Why conversions may not be tracking: the seed's troubleshooting causes ("postback URL is
/// correctly configured", "click_id parameter is being passed", "postback is enabled for the
/// offer"), told apart by what arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Postbacks are accepted, most of them with our click ID.
    Healthy,
    /// No postback arrived at all: the postback URL is not set at the network, or postback is
    /// not enabled for the offer.
    NoPostbacks,
    /// Postbacks arrive with a missing or wrong token (an old URL, or a rotated token).
    RefusedForToken,
    /// Postbacks are accepted but most carry no click ID of ours: `{click_id}` is not passed.
    UnknownClickIds,
    /// Postbacks come from addresses outside `ip_allowlist`.
    RefusedForIp,
    /// Postbacks arrive with parameters we cannot read (missing, unsubstituted macros...).
    RefusedForInput,
    /// The integration is inactive and refuses postbacks.
    Inactive,
}

impl Cause {
    /// What to check, in the user's words.
    pub fn hint(self) -> &'static str {
        match self {
            Cause::Healthy => "postbacks are accepted and carry our click IDs",
            Cause::NoPostbacks => {
                "no postback arrived: check that the postback URL is configured at the network and that postback is enabled for the offer"
            }
            Cause::RefusedForToken => {
                "postbacks are refused for a missing or wrong token: copy the postback URL again (GET /integrations/{id}/postback-url; rotating the token changes it)"
            }
            Cause::UnknownClickIds => {
                "postbacks carry no click ID of ours: check that the click_id parameter is being passed ({click_id} in the offer's tracking URL, echoed in the postback)"
            }
            Cause::RefusedForIp => {
                "postbacks are refused because they come from addresses outside settings.ip_allowlist"
            }
            Cause::RefusedForInput => {
                "postbacks are refused for their parameters: see the refused postbacks' logs (GET /integrations/{id}/postbacks)"
            }
            Cause::Inactive => "the integration is inactive: set active to true",
        }
    }
}

/// Postbacks received over a window, by what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Received {
    pub accepted: u64,
    /// Accepted, on a conversion without a click of ours (unmatched).
    pub unknown_click: u64,
    pub bad_token: u64,
    pub ip_not_allowed: u64,
    pub bad_input: u64,
    pub inactive: u64,
    /// Refused because storage failed (the network retries).
    pub other: u64,
}

impl Received {
    pub fn refused(&self) -> u64 {
        self.bad_token + self.ip_not_allowed + self.bad_input + self.inactive + self.other
    }

    pub fn total(&self) -> u64 {
        self.accepted + self.refused()
    }

    /// Counts one refusal under its reason group (see [`refusal_group`]).
    pub fn add_refused(&mut self, code: &str, n: u64) {
        let slot = match refusal_group(code) {
            RefusalGroup::BadToken => &mut self.bad_token,
            RefusalGroup::IpNotAllowed => &mut self.ip_not_allowed,
            RefusalGroup::BadInput => &mut self.bad_input,
            RefusalGroup::Inactive => &mut self.inactive,
            RefusalGroup::Other => &mut self.other,
        };
        *slot += n;
    }

    /// The cause these figures look like: the commonest way postbacks fail, or
    /// [`Cause::Healthy`] when most arrive accepted with our click ID.
    pub fn cause(&self) -> Cause {
        if self.total() == 0 {
            return Cause::NoPostbacks;
        }
        let matched = self.accepted.saturating_sub(self.unknown_click);
        let candidates = [
            (matched, Cause::Healthy),
            (self.bad_token, Cause::RefusedForToken),
            (self.unknown_click, Cause::UnknownClickIds),
            (self.ip_not_allowed, Cause::RefusedForIp),
            (self.bad_input, Cause::RefusedForInput),
            (self.inactive, Cause::Inactive),
        ];
        // The first of the largest wins: healthy on a tie with a failure.
        let mut best = candidates[0];
        for c in candidates {
            if c.0 > best.0 {
                best = c;
            }
        }
        match best {
            (0, _) => Cause::NoPostbacks,
            (_, cause) => cause,
        }
    }
}

/// The groups refusal codes are reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalGroup {
    BadToken,
    IpNotAllowed,
    BadInput,
    Inactive,
    Other,
}

/// The group of a refused postback's code (its log's `outcome`, its counter's `refused.<code>`).
pub fn refusal_group(code: &str) -> RefusalGroup {
    match code {
        "bad_token" => RefusalGroup::BadToken,
        "ip_not_allowed" => RefusalGroup::IpNotAllowed,
        "integration_inactive" => RefusalGroup::Inactive,
        "storage_unavailable" => RefusalGroup::Other,
        // The parameters' own errors (missing_parameter, unsubstituted_macro, invalid_amount,
        // unknown_status...) and a body too large.
        _ => RefusalGroup::BadInput,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap() + Duration::hours(hours)
    }

    fn watch(now: i64, clicks: bool, accepted: bool) -> Watch {
        Watch {
            now: at(now),
            silence_hours: 24,
            created_at: at(0),
            clicks,
            accepted,
            accepted_since_silent: false,
        }
    }

    #[test]
    fn silent_only_with_clicks_no_postback_and_a_whole_window() {
        assert_eq!(transition(None, &watch(23, true, false)), None, "too young");
        assert_eq!(
            transition(None, &watch(24, true, false)),
            Some(Transition::Silent)
        );
        assert_eq!(
            transition(None, &watch(30, false, false)),
            None,
            "no clicks"
        );
        assert_eq!(transition(None, &watch(30, true, true)), None, "accepted");
        let silent = SilenceState {
            silent: true,
            since: at(30),
            cause: Some(Cause::NoPostbacks),
            version: 1,
        };
        assert_eq!(transition(Some(&silent), &watch(40, true, false)), None);
        let back = Watch {
            accepted_since_silent: true,
            ..watch(41, true, true)
        };
        assert_eq!(
            transition(Some(&silent), &back),
            Some(Transition::Recovered)
        );
        let recovered = SilenceState {
            silent: false,
            ..silent
        };
        assert_eq!(transition(Some(&recovered), &back), None);
        assert_eq!(
            Watch::window_start(at(30) + Duration::minutes(5), 24),
            at(6)
        );
    }

    #[test]
    fn the_cause_is_the_commonest_failure() {
        assert_eq!(Received::default().cause(), Cause::NoPostbacks);
        let mut r = Received {
            accepted: 10,
            unknown_click: 2,
            ..Received::default()
        };
        assert_eq!(r.cause(), Cause::Healthy);
        r.add_refused("bad_token", 9);
        assert_eq!(r.cause(), Cause::RefusedForToken);
        r.unknown_click = 10;
        assert_eq!(r.cause(), Cause::UnknownClickIds);
        let mut refused = Received::default();
        refused.add_refused("unsubstituted_macro", 3);
        refused.add_refused("ip_not_allowed", 2);
        assert_eq!(refused.cause(), Cause::RefusedForInput);
        assert_eq!((refused.bad_input, refused.total()), (3, 5));
        assert_eq!(
            refusal_group("integration_inactive"),
            RefusalGroup::Inactive
        );
    }
}
