//! Timestamps in the reader's own time zone, language and 12/24-hour habit: the
//! browser's `Intl.DateTimeFormat` writes them.

use chrono::{DateTime, Utc};
use js_sys::{Array, Date, Intl, Object, Reflect};
use wasm_bindgen::JsValue;

#[allow(clippy::cast_precision_loss)] // milliseconds since 1970 fit f64 exactly for millennia
fn local(at: DateTime<Utc>) -> Date {
    Date::new(&JsValue::from_f64(at.timestamp_millis() as f64))
}

/// A formatter for the browser's locale showing the given parts (e.g. `hour`:
/// `numeric`).
fn formatter(parts: &[(&str, &str)]) -> Intl::DateTimeFormat {
    let options = Object::new();
    for (part, style) in parts {
        let _ = Reflect::set(
            &options,
            &JsValue::from_str(part),
            &JsValue::from_str(style),
        );
    }
    Intl::DateTimeFormat::new(&Array::new(), &options)
}

const TIME: &[(&str, &str)] = &[("hour", "numeric"), ("minute", "2-digit")];
const WEEKDAY_TIME: &[(&str, &str)] = &[
    ("weekday", "short"),
    ("hour", "numeric"),
    ("minute", "2-digit"),
];
const DAY: &[(&str, &str)] = &[("day", "numeric"), ("month", "short")];
const DAY_YEAR: &[(&str, &str)] = &[("day", "numeric"), ("month", "short"), ("year", "numeric")];
const FULL: &[(&str, &str)] = &[
    ("weekday", "short"),
    ("day", "numeric"),
    ("month", "short"),
    ("year", "numeric"),
    ("hour", "numeric"),
    ("minute", "2-digit"),
];

thread_local! {
    /// Made once: a formatter is costly to build and each timeline shows many times.
    static FORMATS: [Intl::DateTimeFormat; 5] =
        [TIME, WEEKDAY_TIME, DAY, DAY_YEAR, FULL].map(formatter);
}

fn format(which: usize, date: &Date) -> String {
    FORMATS.with(|formats| {
        formats[which]
            .format()
            .call1(&JsValue::UNDEFINED, date)
            .ok()
            .and_then(|text| text.as_string())
            .unwrap_or_default()
    })
}

/// Short, for lists: the time today, the weekday and time this week, the day and
/// month this year, and with the year before.
pub fn short(at: DateTime<Utc>) -> String {
    let date = local(at);
    let now = Date::new_0();
    let age_days = (now.get_time() - date.get_time()) / 86_400_000.0;
    let which = if date.to_date_string() == now.to_date_string() {
        0
    } else if age_days < 6.0 {
        1
    } else if date.get_full_year() == now.get_full_year() {
        2
    } else {
        3
    };
    format(which, &date)
}

/// Complete, for tooltips and receipts: weekday, date, year and time.
pub fn full(at: DateTime<Utc>) -> String {
    format(4, &local(at))
}

/// The machine-readable form for `<time datetime=…>`.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339()
}
