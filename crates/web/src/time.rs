//! Timestamps in the reader's own time zone, as the browser knows it.

use chrono::{DateTime, Utc};
use js_sys::Date;
use wasm_bindgen::JsValue;

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[allow(clippy::cast_precision_loss)] // milliseconds since 1970 fit f64 exactly for millennia
fn local(at: DateTime<Utc>) -> Date {
    Date::new(&JsValue::from_f64(at.timestamp_millis() as f64))
}

fn clock(date: &Date) -> String {
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

fn day(date: &Date) -> String {
    format!(
        "{} {} {}",
        DAYS[date.get_day() as usize % 7],
        date.get_date(),
        MONTHS[date.get_month() as usize % 12]
    )
}

/// Short, for lists: `14:05` today, `Mon 14:05` this week, `3 Nov` this year,
/// `3 Nov 2025` before.
pub fn short(at: DateTime<Utc>) -> String {
    let date = local(at);
    let now = Date::new_0();
    let age_days = (now.get_time() - date.get_time()) / 86_400_000.0;
    let same_day = date.to_date_string() == now.to_date_string();
    if same_day {
        clock(&date)
    } else if age_days < 6.0 {
        format!("{} {}", DAYS[date.get_day() as usize % 7], clock(&date))
    } else if date.get_full_year() == now.get_full_year() {
        format!(
            "{} {}",
            date.get_date(),
            MONTHS[date.get_month() as usize % 12]
        )
    } else {
        format!(
            "{} {} {}",
            date.get_date(),
            MONTHS[date.get_month() as usize % 12],
            date.get_full_year()
        )
    }
}

/// Complete, for tooltips and receipts: `Tue 24 Nov 2026, 14:05`.
pub fn full(at: DateTime<Utc>) -> String {
    let date = local(at);
    format!("{} {}, {}", day(&date), date.get_full_year(), clock(&date))
}

/// The machine-readable form for `<time datetime=…>`.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339()
}
