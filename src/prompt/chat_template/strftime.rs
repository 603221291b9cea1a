//! `strftime_now(format)` for chat templates: the C/Python `strftime` directives templates use, on a UTC timestamp.

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Formats `unix_secs` (UTC). Supports `%Y %y %m %d %e %b %B %h %a %A %H %I %M %S %p %j %F %T %D %%` and
/// glibc's `%-d`-style "no padding" flag; any other directive is kept as written.
pub fn format(unix_secs: u64, format: &str) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    let (year, month, day) = crate::civil_from_days(days);
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let yday = days - days_before_year(year) + 1;
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let unpadded = chars.peek() == Some(&'-');
        if unpadded {
            chars.next();
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let num = |n: u64, width: usize| if unpadded { n.to_string() } else { format!("{n:0width$}") };
        let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
        let text = match d {
            'Y' => year.to_string(),
            'y' => num(year.rem_euclid(100) as u64, 2),
            'm' => num(u64::from(month), 2),
            'd' => num(u64::from(day), 2),
            'e' => format!("{day:2}"),
            'b' | 'h' => MONTHS[month as usize - 1][..3].to_string(),
            'B' => MONTHS[month as usize - 1].to_string(),
            'a' => DAYS[weekday][..3].to_string(),
            'A' => DAYS[weekday].to_string(),
            'H' => num(hour, 2),
            'I' => num(hour12, 2),
            'M' => num(minute, 2),
            'S' => num(second, 2),
            'p' => (if hour < 12 { "AM" } else { "PM" }).to_string(),
            'j' => num(yday as u64, 3),
            'F' => format!("{year}-{month:02}-{day:02}"),
            'T' => format!("{hour:02}:{minute:02}:{second:02}"),
            'D' => format!("{month:02}/{day:02}/{:02}", year.rem_euclid(100)),
            '%' => "%".to_string(),
            other => format!("%{}{other}", if unpadded { "-" } else { "" }),
        };
        out.push_str(&text);
    }
    out
}

/// Days from 1970-01-01 to January 1st of `year`.
fn days_before_year(year: i64) -> i64 {
    let y = year - 1;
    365 * (year - 1970) + (y / 4 - y / 100 + y / 400) - (1969 / 4 - 1969 / 100 + 1969 / 400)
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn directives() {
        // 2024-07-26 09:05:03 UTC, a Friday, day 208 of a leap year.
        let t = 1_721_984_703;
        assert_eq!(format(t, "%d %b %Y"), "26 Jul 2024");
        assert_eq!(format(t, "%Y-%m-%d"), "2024-07-26");
        assert_eq!(format(t, "%B %-d, %Y"), "July 26, 2024");
        assert_eq!(format(t, "%A %a %H:%M:%S %I%p %j %y"), "Friday Fri 09:05:03 09AM 208 24");
        assert_eq!(format(t, "%F %T %D %% %Q"), "2024-07-26 09:05:03 07/26/24 % %Q");
        assert_eq!(format(0, "%A %d %B %Y %j"), "Thursday 01 January 1970 001");
        // Dec 31st of a leap year is day 366.
        assert_eq!(format(1_735_603_200, "%Y-%m-%d %j %a"), "2024-12-31 366 Tue");
        assert_eq!(format(t, "trailing %"), "trailing %");
    }
}
