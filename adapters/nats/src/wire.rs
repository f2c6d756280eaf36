//! What rsvp adds to a NATS message: the header names and values both sides agree on, and
//! the subject of cancel messages. Plain text, so a client in any language can speak it
//! (the README's "Wire format" section is the reference).

use std::time::Duration;

use async_nats::{HeaderMap, HeaderName, HeaderValue};

/// Request header: the caller's remaining budget in microseconds, a decimal integer. The
/// responder's deadline is its arrival time plus this, so the two clocks need not agree.
pub const BUDGET_HEADER: &str = "Rsvp-Budget-Us";
/// Request header: the call's id, which a cancel message names. Whoever knows it can cancel
/// the call, so it must be unguessable. Optional: without it, a call's id is the last token
/// of its reply subject when that token is 32 lowercase hex digits (rsvp-nats' callers reply
/// to `<their inbox>.<id>`, the id 128 random bits, new for each call, and send no header);
/// a call with neither cannot be cancelled before its deadline.
pub const CALL_HEADER: &str = "Rsvp-Call";
/// Reply header on a reply that is not a value: `lost`, `closed`, `full`, `timeout`,
/// `cancelled` or `rejected`.
pub const OUTCOME_HEADER: &str = "Rsvp-Outcome";
/// Reply header, the NATS service convention: what went wrong, for people.
pub const ERROR_HEADER: &str = "Nats-Service-Error";
/// Reply header, the NATS service convention: an HTTP-like error code.
pub const ERROR_CODE_HEADER: &str = "Nats-Service-Error-Code";

/// A header's name, made at compile time: a lookup by `&str` would validate the name and
/// copy it into a new allocation on every message.
macro_rules! header_name {
    ($name:expr) => {
        const { HeaderName::from_static($name) }
    };
}

/// The subject on which callers of `subject` publish the ids of calls they gave up on;
/// every responder of `subject` listens on it (no queue group), and the one holding a call
/// of that exact id marks it cancelled. Any client may publish or listen here: the id is
/// what makes a cancel count (NATS does not tell who published a message).
pub fn cancel_subject(subject: &str) -> String {
    format!("_RSVP.CANCEL.{subject}")
}

/// Why a reply carries no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// The handler dropped its responder, or panicked, without replying.
    Lost,
    /// The responder is shutting down and did not take the request.
    Closed,
    /// The responder's bound on work in progress was reached.
    Full,
    /// The call's deadline passed before the handler replied.
    Timeout,
    /// The caller's cancel message arrived before the handler replied.
    Cancelled,
    /// The request could not be read: an undecodable payload, or a missing or malformed
    /// budget header.
    Rejected,
}

impl Status {
    const ALL: [Self; 6] = [
        Self::Lost,
        Self::Closed,
        Self::Full,
        Self::Timeout,
        Self::Cancelled,
        Self::Rejected,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Lost => "lost",
            Self::Closed => "closed",
            Self::Full => "full",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.name() == name)
    }

    pub(crate) fn code(self) -> u16 {
        match self {
            Self::Lost => 500,
            Self::Closed => 503,
            Self::Full => 429,
            Self::Timeout => 504,
            Self::Cancelled => 499,
            Self::Rejected => 400,
        }
    }

    /// The headers of a reply with this status.
    pub(crate) fn headers(self, description: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header_name!(OUTCOME_HEADER), self.name());
        headers.insert(
            header_name!(ERROR_CODE_HEADER),
            async_nats::HeaderValue::from(self.code()),
        );
        headers.insert(
            header_name!(ERROR_HEADER),
            async_nats::HeaderValue::from_lossy(description),
        );
        headers
    }
}

/// The longest budget a responder accepts; a larger one is cut to it (no `Instant`
/// overflow, whatever a foreign client sends).
const MAX_BUDGET: Duration = Duration::from_secs(365 * 24 * 3600);

/// Reads the budget header of a request.
pub(crate) fn budget(headers: Option<&HeaderMap>) -> Result<Option<Duration>, String> {
    let Some(value) = headers.and_then(|h| h.get(header_name!(BUDGET_HEADER))) else {
        return Ok(None);
    };
    let text = value.as_str();
    match text.trim().parse::<u64>() {
        Ok(us) => Ok(Some(Duration::from_micros(us).min(MAX_BUDGET))),
        Err(_) => Err(format!(
            "malformed {BUDGET_HEADER} header {text:?}: expected the remaining budget in \
             microseconds, a decimal integer"
        )),
    }
}

/// The headers of a request: its budget. (Its call id is in its reply subject: a header
/// more costs async-nats a `HashMap` entry to build, write and parse on every request.)
pub(crate) fn request_headers(budget: Duration) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // Rounded up: a budget of 0 would mean "already late" to the responder.
    let us = u64::try_from(budget.as_micros()).unwrap_or(u64::MAX).max(1);
    headers.insert(header_name!(BUDGET_HEADER), HeaderValue::from(us));
    headers
}

/// The [`CALL_HEADER`] of a request.
pub(crate) fn call_id_header(headers: Option<&HeaderMap>) -> Option<&str> {
    headers
        .and_then(|h| h.get(header_name!(CALL_HEADER)))
        .map(HeaderValue::as_str)
}

/// The call id at the end of a request's reply subject, if its last token is an id in
/// rsvp-nats' own form ([`call_id_bits`]): how the id travels when no header names one.
pub(crate) fn reply_call_id(reply: &str) -> Option<u128> {
    let (_, last) = reply.rsplit_once('.')?;
    call_id_bits(last)
}

/// The 128 bits of a call id in rsvp-nats' own form, exactly 32 lowercase hex digits (what
/// its callers send); `None` for any other text. By hand: `u128::from_str_radix` costs
/// ten times as much, on every request and every reply.
pub(crate) fn call_id_bits(id: &str) -> Option<u128> {
    let digits = id.as_bytes();
    if digits.len() != 32 {
        return None;
    }
    // Without a branch per digit, in two 64-bit halves (shifting a `u128` costs twice as
    // much): each digit's value from a table, any invalid one remembered in `bad`.
    let mut bad = 0;
    let mut half = |digits: &[u8]| {
        digits.iter().fold(0u64, |bits, &digit| {
            let value = HEX_VALUE[usize::from(digit)];
            bad |= value;
            bits << 4 | u64::from(value)
        })
    };
    let (high, low) = digits.split_at(16);
    let bits = u128::from(half(high)) << 64 | u128::from(half(low));
    (bad & NOT_HEX == 0).then_some(bits)
}

/// Marks a byte that is not a lowercase hex digit in [`HEX_VALUE`].
const NOT_HEX: u8 = 0x80;

/// The value of each byte as a lowercase hex digit, or [`NOT_HEX`].
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// A status reply's outcome and why: `None` for a value reply.
pub(crate) fn outcome(headers: Option<&HeaderMap>) -> Option<(&str, &str)> {
    let headers = headers?;
    let outcome = headers.get(header_name!(OUTCOME_HEADER))?;
    let why = headers
        .get(header_name!(ERROR_HEADER))
        .map_or("", HeaderValue::as_str);
    Some((outcome.as_str(), why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_header() {
        assert_eq!(budget(None), Ok(None));
        let h = request_headers(Duration::from_millis(250));
        assert_eq!(budget(Some(&h)), Ok(Some(Duration::from_millis(250))));
        assert!(
            h.get(CALL_HEADER).is_none(),
            "the id travels in the reply subject"
        );
        let mut bad = HeaderMap::new();
        bad.insert(BUDGET_HEADER, "soon");
        let err = budget(Some(&bad)).unwrap_err();
        assert!(
            err.starts_with("malformed Rsvp-Budget-Us header \"soon\""),
            "{err}"
        );
        let mut huge = HeaderMap::new();
        huge.insert(BUDGET_HEADER, async_nats::HeaderValue::from(u64::MAX));
        assert_eq!(budget(Some(&huge)), Ok(Some(MAX_BUDGET)));
    }

    #[test]
    fn a_call_id_is_a_header_or_an_id_at_the_end_of_the_reply_subject() {
        let id = "0123456789abcdef0123456789abcdef";
        let bits = 0x0123456789abcdef0123456789abcdef;
        assert_eq!(reply_call_id(&format!("_INBOX.caller.{id}")), Some(bits));
        assert_eq!(reply_call_id(&format!("r.{id}")), Some(bits));
        // Any other reply subject names no id: without a header, such a call cannot be
        // cancelled early.
        for other in [
            "_INBOX.x.1",
            "_INBOX.x.0123456789ABCDEF0123456789ABCDEF",
            id,
            "",
        ] {
            assert_eq!(reply_call_id(other), None, "{other}");
        }
        assert_eq!(call_id_header(None), None);
        assert_eq!(call_id_header(Some(&HeaderMap::new())), None);
        let mut h = HeaderMap::new();
        h.insert(CALL_HEADER, "c1");
        assert_eq!(call_id_header(Some(&h)), Some("c1"));
    }

    #[test]
    fn call_id_bits_reads_exactly_32_lowercase_hex_digits() {
        for bits in [
            0,
            1,
            0xab,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            let id = format!("{bits:032x}");
            assert_eq!(call_id_bits(&id), Some(bits), "{id}");
        }
        for other in [
            "",
            "ab",
            "0123456789ABCDEF0123456789ABCDEF",
            "+123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdeg",
            // The bytes next to the digits' ranges, in either half.
            "01234567/9abcdef0123456789abcdef",
            "0123456789abcdef01234:6789abcdef",
            "0123456789abcde`0123456789abcdef",
            "00123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcd\u{e9}", // 32 bytes
        ] {
            assert_eq!(call_id_bits(other), None, "{other}");
        }
    }

    #[test]
    fn statuses_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.name()), Some(status));
            let h = status.headers("why");
            assert_eq!(h.get(OUTCOME_HEADER).unwrap().as_str(), status.name());
            assert_eq!(h.get(ERROR_HEADER).unwrap().as_str(), "why");
        }
        assert_eq!(Status::parse("maybe"), None);
    }
}
