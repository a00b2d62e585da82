import Foundation
import Testing
import TollgateCore

@Suite struct RFC3339Tests {
    @Test(arguments: [
        (Int64(1_793_491_200_123), "2026-11-01T00:00:00.123Z"),
        (1_793_491_200_001, "2026-11-01T00:00:00.001Z"),
        (1_793_491_200_000, "2026-11-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ])
    func millisecondsAreExact(millis: Int64, text: String) {
        #expect(RFC3339.format(millis: millis) == text)
    }

    /// The digits written in place agree with Foundation's formatter from 1970 to 9999, with and without the fraction,
    /// and read back to the same instant.
    @Test func formattedInstantsAgreeWithFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let millis = Int64.random(in: 0...253_402_300_799_999, using: &generator)
            let text = RFC3339.format(millis: millis)
            #expect(text == formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000 + 0.0001)))
            #expect(RFC3339.millis(text) == millis)
            #expect(RFC3339.format(millis: millis, fractional: false) == String(text.prefix(19)) + "Z")
        }
        // Beyond four digits of year, the general form.
        #expect(RFC3339.format(millis: 253_402_300_800_000) == "10000-01-01T00:00:00.000Z")
    }

    @Test func wholeSecondsHaveNoFraction() {
        #expect(RFC3339.format(seconds: 1_793_491_200) == "2026-11-01T00:00:00Z")
        #expect(RFC3339.format(millis: 1_793_491_200_999, fractional: false) == "2026-11-01T00:00:00Z")
        // Seconds beyond what can be formatted print as the nearest that can, never trap.
        let limit = Int64.max / 2000
        #expect(RFC3339.format(seconds: Int64.max) == RFC3339.format(seconds: limit))
        #expect(RFC3339.format(seconds: Int64.min) == RFC3339.format(seconds: -limit))
        #expect(RFC3339.format(seconds: limit).hasPrefix("146140482-"))
        // Days before 1970 round down, to the millisecond.
        #expect(RFC3339.daysSinceEpoch(-1) == -1 && RFC3339.daysSinceEpoch(-86_400_000) == -1 && RFC3339.daysSinceEpoch(-86_400_001) == -2)
        #expect(RFC3339.daysSinceEpoch(Int64.min) == Int64.min / 86_400_000 - 1)
    }
}

/// Periods, caps and quotas count in the same UTC days and months the codec prints.
@Suite struct RFC3339PeriodTests {
    @Test func periodsAreDaysAndMonthsInUTC() throws {
        let november = try #require(RFC3339.period("2026-11"))
        #expect(RFC3339.format(millis: november.start) == "2026-11-01T00:00:00.000Z")
        #expect(RFC3339.format(millis: november.end) == "2026-12-01T00:00:00.000Z")
        let leapDay = try #require(RFC3339.period("2028-02-29"))
        #expect(leapDay.end - leapDay.start == 86_400_000)
        for refused in ["2026-02-30", "2027-02-29", "2026-13", "2026-1", "26-11", "2026-11-", "2026-11-01-01", "２０２６-11", ""] {
            #expect(RFC3339.period(refused) == nil, "\(refused)")
        }
    }

    @Test func capBucketsAndPeriodsAgree() throws {
        let millis: Int64 = 1_796_083_199_999 // 2026-11-30T23:59:59.999Z
        #expect(SpendCap.Period.day.key(millis: millis) == "2026-11-30")
        #expect(SpendCap.Period.month.key(millis: millis) == "2026-11")
        #expect(SpendCap.Period.month.key(millis: millis + 1) == "2026-12")
        let month = try #require(RFC3339.period(SpendCap.Period.month.key(millis: millis)))
        #expect((month.start..<month.end).contains(millis))
    }
}
