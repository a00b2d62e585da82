import Foundation

/// A UTC calendar period as [from, to) in milliseconds.
public struct UsagePeriod: Sendable, Hashable {
    public var fromMillis: Int64
    public var toMillis: Int64

    /// `2026-11` (a month), `2026-11-25` (a day), `month` or `today` (the current ones, in UTC); nil otherwise.
    public init?(_ text: String, now: Date) {
        let nowMillis = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        let period: (start: Int64, end: Int64)?
        switch text {
        case "month": period = RFC3339.month(containing: nowMillis)
        case "today": period = RFC3339.day(containing: nowMillis)
        default: period = RFC3339.period(text)
        }
        guard let period else { return nil }
        fromMillis = period.start
        toMillis = period.end
    }
}
