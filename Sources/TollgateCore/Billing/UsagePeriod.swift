import Foundation

/// A UTC calendar period as [from, to) in milliseconds.
public struct UsagePeriod: Sendable, Hashable {
    public var fromMillis: Int64
    public var toMillis: Int64

    /// `2026-11` (a month), `2026-11-25` (a day), `month` or `today` (the current ones, in UTC); nil otherwise.
    public init?(_ text: String, now: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let today = calendar.dateComponents([.year, .month, .day], from: now)
        var start = DateComponents()
        let component: Calendar.Component
        switch text {
        case "month":
            (start.year, start.month, start.day, component) = (today.year, today.month, 1, .month)
        case "today":
            (start.year, start.month, start.day, component) = (today.year, today.month, today.day, .day)
        default:
            let parts = text.split(separator: "-").map { Int($0) }
            guard parts.allSatisfy({ $0 != nil }), parts.count == 2 || parts.count == 3 else { return nil }
            start.year = parts[0]
            start.month = parts[1]
            start.day = parts.count == 3 ? parts[2] : 1
            component = parts.count == 3 ? .day : .month
            guard let month = start.month, (1...12).contains(month), let day = start.day, (1...31).contains(day) else { return nil }
        }
        // A day the month does not have (2026-02-30) would roll over into the next month: refused instead.
        guard let from = calendar.date(from: start), calendar.component(.day, from: from) == start.day,
              let to = calendar.date(byAdding: component, value: 1, to: from) else { return nil }
        fromMillis = Int64(from.timeIntervalSince1970 * 1000)
        toMillis = Int64(to.timeIntervalSince1970 * 1000)
    }
}
