import HTTPTypes
import Testing
import TollgateCore

/// Numbers an attacker, an upstream or an edited file chooses: each is refused or bounded, never an arithmetic trap that
/// stops the process.
@Suite struct HostileNumbersTests {
    /// A backend checking the gateway's contract headers: any Int64 timestamp, with a key id every 402 names, is stale.
    @Test(arguments: ["-9223372036854775808", "9223372036854775807", "-1"]) func anExtremeContractTimestampIsStale(timestamp: String) {
        let keys = KeyRing([SecretKey(id: "k1", secret: Array(repeating: 9, count: 32))!])!.contractKeys()
        var fields = HTTPFields()
        fields[.tollgateSignature] = "v2 kid=k1 sig=00"
        fields[.tollgateTimestamp] = timestamp
        let verifier = ContractVerifier(keys: keys, windowSeconds: 60)
        guard case .failure(let refusal) = verifier.verify(fields, method: "GET", target: "/a", body: [], now: 1_750_000_000) else {
            Issue.record("an extreme timestamp was accepted")
            return
        }
        #expect(refusal.code == .stale)
    }

    @Test func timesBeyondTheCalendarAreWrittenAsItsEnds() {
        #expect(RFC3339.format(millis: .min).hasPrefix("-"))
        #expect(RFC3339.format(millis: .max) == RFC3339.format(millis: .max - 1))
        let day = RFC3339.day(containing: .max), month = RFC3339.month(containing: .min)
        #expect(day.start < day.end && month.start < month.end)
    }

    @Test func usageSumsSaturate() {
        var report = UsageReport()
        report.add(resource: "r", unit: "u", quantity: .max, amount: "0", asset: "")
        report.add(resource: "r", unit: "u", quantity: .max, amount: "0", asset: "")
        #expect(report.summaries.first?.quantity == .max)
        #expect(report.summaries.first?.events == 2)
    }

    /// Rates whose windows would not fit an `Int` (a day's burst at one request in 1e19 seconds) are not rates.
    @Test func ratesAreBounded() {
        #expect(RateLimit(ratePerSecond: 1e-19, burst: 1) == nil)
        #expect(RateLimit(ratePerSecond: 1e7, burst: 1) == nil)
        #expect(RateLimit(ratePerSecond: .nan, burst: 1) == nil)
        #expect(RateLimit(ratePerSecond: 1, burst: .max) == nil)
        let slowest = RateLimit(ratePerSecond: RateLimit.rates.lowerBound, burst: RateLimit.maximumBurst)
        #expect(slowest?.windowSeconds ?? 0 > 0)
        #expect(RateLimiter(limit: slowest!, maxKeys: 10).admit("ip:192.0.2.1", now: 0).allowed)
        let once = RateLimiter(limit: RateLimit(ratePerSecond: RateLimit.rates.lowerBound, burst: 1)!, maxKeys: 10)
        #expect(once.admit("ip:192.0.2.1", now: 0).allowed)
        let refused = once.admit("ip:192.0.2.1", now: 0)
        #expect(!refused.allowed && refused.retryAfterSeconds == 1_000_000)
    }

    /// An upstream's measured units are capped: a metered answer never counts more than a billion units.
    @Test func measuredUnitsAreCapped() {
        let metering = Metering(measure: .header("X-Records"))
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Records")!] = "9223372036854775807"
        let answer = UpstreamResponse(status: .ok, headerFields: fields, body: [])
        #expect(metering.consumedUnits(answer, quoted: 1, elapsedMillis: 1) == Metering.maximumMeasured)
    }
}
