import Foundation
import Testing
import TollgateCore

@Suite struct UsagePeriodTests {
    static let now = Date(timeIntervalSince1970: 1_795_655_066)  // 2026-11-26T00:24:26Z

    static func iso(_ millis: Int64) -> String { RFC3339.format(millis: millis, fractional: false) }

    @Test(arguments: [
        ("2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("2026-11-25", "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"),
        ("month", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("today", "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"),
    ])
    func periodsAreHalfOpenUTCRanges(text: String, from: String, to: String) throws {
        let period = try #require(UsagePeriod(text, now: Self.now))
        #expect(Self.iso(period.fromMillis) == from)
        #expect(Self.iso(period.toMillis) == to)
    }

    @Test(arguments: ["", "2026", "2026-13", "2026-11-32", "2026-02-30", "2026-xx", "yesterday", "2026-11-25-01"])
    func anythingElseIsRefused(text: String) {
        #expect(UsagePeriod(text, now: Self.now) == nil)
    }
}
