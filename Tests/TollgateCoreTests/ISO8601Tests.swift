import Testing
import TollgateCore

@Suite struct ISO8601Tests {
    @Test(arguments: [
        (Int64(1_793_491_200_123), "2026-11-01T00:00:00.123Z"),
        (1_793_491_200_001, "2026-11-01T00:00:00.001Z"),
        (1_793_491_200_000, "2026-11-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ])
    func millisecondsAreExact(millis: Int64, text: String) {
        #expect(ISO8601.format(millis: millis) == text)
    }

    @Test func wholeSecondsHaveNoFraction() {
        #expect(ISO8601.format(seconds: 1_793_491_200) == "2026-11-01T00:00:00Z")
        #expect(ISO8601.format(millis: 1_793_491_200_999, fractional: false) == "2026-11-01T00:00:00Z")
    }
}
