//! An invocation's deadline, as one value: every step asks it whether there is time for the
//! call it is about to make, instead of doing the arithmetic by hand.

use std::time::Duration;

use crate::time::now_millis;

/// Time kept in reserve before the deadline to record a failure and answer.
pub const RESERVE_MS: u64 = 2_000;

/// When the invocation must have answered (Unix ms, the Runtime API's `deadline-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    at_ms: u64,
}

impl Deadline {
    /// The deadline the Runtime API gave (Unix ms).
    pub fn at(at_ms: u64) -> Self {
        Self { at_ms }
    }

    /// `span` from now.
    pub fn after(span: Duration) -> Self {
        Self::at(now_millis().saturating_add(span.as_millis() as u64))
    }

    pub fn at_ms(self) -> u64 {
        self.at_ms
    }

    /// Time left, none once it has passed.
    pub fn left(self) -> Duration {
        Duration::from_millis(self.at_ms.saturating_sub(now_millis()))
    }

    /// Whether a call taking up to `work` can be made and its outcome still recorded (the
    /// reserve kept) before the deadline.
    pub fn has_time_for(self, work: Duration) -> bool {
        now_millis().saturating_add(work.as_millis() as u64).saturating_add(RESERVE_MS) <= self.at_ms
    }

    /// Whether there is more left than `reserves` reserves (a loop's "start another?").
    pub fn has_reserves(self, reserves: u64) -> bool {
        now_millis().saturating_add(RESERVE_MS * reserves) < self.at_ms
    }

    /// The point `num/den` of the way from now to the deadline (a share of the time left).
    pub fn share(self, num: u64, den: u64) -> Deadline {
        let now = now_millis();
        Deadline::at(now + self.at_ms.saturating_sub(now) * num / den.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_asked_of_the_deadline_with_the_reserve_kept() {
        let d = Deadline::after(Duration::from_secs(10));
        assert!(d.has_time_for(Duration::from_secs(7)));
        assert!(!d.has_time_for(Duration::from_secs(9)), "the 2 s reserve is kept");
        assert!(d.has_reserves(3) && !d.has_reserves(6));
        assert!(d.left() <= Duration::from_secs(10) && d.left() > Duration::from_secs(9));
        let share = d.share(2, 3);
        assert!(share < d && share.left() > Duration::from_secs(6));
        let past = Deadline::at(1);
        assert_eq!(past.left(), Duration::ZERO);
        assert!(!past.has_time_for(Duration::ZERO) && !past.has_reserves(0));
    }
}
