//! The time use cases read: the system's, or (tests) one that is set and moved by hand, so a
//! scenario can move hours forward without sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system clock.
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock standing at `at` until set or advanced.
    pub fn manual(at: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(Mutex::new(at))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now(),
            Some(at) => *at.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Moves a manual clock (the system clock cannot be moved: no-op).
    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.manual {
            *at.lock().unwrap_or_else(|p| p.into_inner()) += by;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::hours(25));
        assert_eq!(clock.clone().now(), start + Duration::hours(25));
        assert!(Clock::system().now() > start - Duration::days(3650));
    }
}
