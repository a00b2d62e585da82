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

    @Test func wholeSecondsHaveNoFraction() {
        #expect(RFC3339.format(seconds: 1_793_491_200) == "2026-11-01T00:00:00Z")
        #expect(RFC3339.format(millis: 1_793_491_200_999, fractional: false) == "2026-11-01T00:00:00Z")
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
