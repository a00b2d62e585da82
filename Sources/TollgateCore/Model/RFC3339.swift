/// The date and time codec of the whole project: RFC 3339 date-times (section 5.6) in the proleptic Gregorian
/// calendar, to and from Unix milliseconds, and the UTC days and months that usage periods, caps and quotas
/// count in; without Foundation's calendar (which turns Julian before 1582) or its lenient parsing.
public enum RFC3339 {
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` and `Z` in either case. Fractions beyond
    /// milliseconds are truncated; a leap second (`:60`) is accepted only at 23:59 UTC.
    public static func millis(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ width: Int) -> Int? {
            guard index + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + width)] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += width
            return value
        }
        func expect(_ allowed: String) -> Bool {
            guard index < bytes.count, allowed.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2), expect("Tt"),
              let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2),
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60, second <= 60
        else { return nil }
        var millis = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, (48...57).contains(bytes[index]) {
                if digits < 3 { millis = millis * 10 + Int(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            if digits < 3 { for _ in digits..<3 { millis *= 10 } }
        }
        var offsetMinutes = 0
        if expect("Zz") {
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let offsetHour = number(2), expect(":"), let offsetMinute = number(2), offsetHour < 24, offsetMinute < 60 else { return nil }
            offsetMinutes = sign * (offsetHour * 60 + offsetMinute)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let localMinutes = hour * 60 + minute
        if second == 60 {
            // 23:59:60 UTC, whatever the offset.
            guard ((localMinutes - offsetMinutes) % 1440 + 1440) % 1440 == 23 * 60 + 59 else { return nil }
        }
        let days = Int64(daysFromCivil(year: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(localMinutes - offsetMinutes) * 60 + Int64(second)
        return seconds * 1000 + Int64(millis)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (UTC) for Unix seconds (beyond half of what milliseconds can count, about 146 million
    /// years, the nearest instant within it: never a trap).
    public static func format(seconds: Int64) -> String {
        format(millis: min(max(seconds, -formattableSeconds), formattableSeconds) * 1000, fractional: false)
    }

    static let formattableSeconds = Int64.max / 2000

    /// `millis` within what the calendar arithmetic here can count without overflow.
    static func clamped(_ millis: Int64) -> Int64 { min(max(millis, -formattableSeconds * 1000), formattableSeconds * 1000) }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) for Unix milliseconds; without the fraction when `fractional` is false. Beyond
    /// about 146 million years either way (an edited archive line can say anything), the nearest instant within.
    public static func format(millis: Int64, fractional: Bool = true) -> String {
        let millis = clamped(millis)
        let days = daysSinceEpoch(millis)
        let rest = Int(millis - days * 86_400_000)
        let (year, month, day) = civilFromDays(Int(days))
        if (0...9999).contains(year) {
            // Digits written in place: every 402 states its expiry, and the interpolations below were most of its cost.
            return String(unsafeUninitializedCapacity: fractional ? 24 : 20) { out in
                var written = 0
                func put(_ value: Int, _ width: Int) {
                    var rest = value
                    for position in stride(from: written + width - 1, through: written, by: -1) {
                        out[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                        rest /= 10
                    }
                    written += width
                }
                func put(_ byte: Unicode.Scalar) {
                    out[written] = UInt8(ascii: byte)
                    written += 1
                }
                put(year, 4); put("-"); put(month, 2); put("-"); put(day, 2); put("T")
                put(rest / 3_600_000, 2); put(":"); put(rest / 60_000 % 60, 2); put(":"); put(rest / 1000 % 60, 2)
                if fractional { put("."); put(rest % 1000, 3) }
                put("Z")
                return written
            }
        }
        let whole = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(rest / 3_600_000, 2)):\(pad(rest / 60_000 % 60, 2)):"
            + pad(rest / 1000 % 60, 2)
        return fractional ? whole + ".\(pad(rest % 1000, 3))Z" : whole + "Z"
    }

    /// The UTC day holding `millis` (`2026-11-25`).
    public static func dayKey(millis: Int64) -> String {
        let (year, month, day) = civilFromDays(Int(daysSinceEpoch(clamped(millis))))
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// The UTC month holding `millis` (`2026-11`).
    public static func monthKey(millis: Int64) -> String {
        let (year, month, _) = civilFromDays(Int(daysSinceEpoch(clamped(millis))))
        return "\(pad(year, 4))-\(pad(month, 2))"
    }

    /// The first instant of the UTC day holding `millis`, and of the day after it.
    public static func day(containing millis: Int64) -> (start: Int64, end: Int64) {
        let start = daysSinceEpoch(clamped(millis)) * 86_400_000
        return (start, start + 86_400_000)
    }

    /// `2026-11` (a month) or `2026-11-25` (a day) as [start, end) in Unix milliseconds; nil for anything else,
    /// a day the month does not have included.
    public static func period(_ text: String) -> (start: Int64, end: Int64)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, parts[0].count == 4, parts.dropFirst().allSatisfy({ $0.count == 2 }),
              parts.allSatisfy({ $0.utf8.allSatisfy { (48...57).contains($0) } }),
              let year = Int(parts[0]), let month = Int(parts[1]), (1...12).contains(month) else { return nil }
        guard parts.count == 3 else {
            let start = Int64(daysFromCivil(year: year, month: month, day: 1)) * 86_400_000
            return (start, Self.month(containing: start).end)
        }
        guard let day = Int(parts[2]), (1...daysIn(month: month, year: year)).contains(day) else { return nil }
        return self.day(containing: Int64(daysFromCivil(year: year, month: month, day: day)) * 86_400_000)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// The first instant of the UTC month holding `millis`, and of the month after it.
    public static func month(containing millis: Int64) -> (start: Int64, end: Int64) {
        let (year, month, _) = civilFromDays(Int(daysSinceEpoch(clamped(millis))))
        let start = Int64(daysFromCivil(year: year, month: month, day: 1)) * 86_400_000
        let next = month == 12 ? daysFromCivil(year: year + 1, month: 1, day: 1) : daysFromCivil(year: year, month: month + 1, day: 1)
        return (start, Int64(next) * 86_400_000)
    }

    /// The UTC day holding `millis`, in days since 1970-01-01 (rounded down, also before 1970).
    public static func daysSinceEpoch(_ millis: Int64) -> Int64 {
        millis >= 0 ? millis / 86_400_000 : (millis + 1) / 86_400_000 - 1
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
