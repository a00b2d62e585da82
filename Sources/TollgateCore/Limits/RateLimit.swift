/// A rate: `ratePerSecond` sustained, up to `burst` at once (GCRA, the leaky bucket as a meter).
public struct RateLimit: Sendable, Hashable {
    public var ratePerSecond: Double
    public var burst: Int

    /// The rates a limit may have: from one request in about eleven days to a million a second. Bounded so that the
    /// limiter's windows, backlogs and retry times (burst times interval, in seconds) always fit an `Int`.
    public static let rates: ClosedRange<Double> = 1e-6...1e6
    /// The largest burst (the limiter's own tests and benches use it for "never refuses").
    public static let maximumBurst = Int(Int32.max)

    /// Returns nil unless the rate is within `rates` and the burst within 1…`maximumBurst`.
    public init?(ratePerSecond: Double, burst: Int) {
        guard Self.rates.contains(ratePerSecond), (1...Self.maximumBurst).contains(burst) else { return nil }
        self.ratePerSecond = ratePerSecond
        self.burst = burst
    }

    /// The emission interval: one request per this many seconds.
    var interval: Double { 1 / ratePerSecond }

    /// The window of the IETF `RateLimit-Policy` field: the time a full burst takes to replenish.
    public var windowSeconds: Int { max(1, Int((Double(burst) * interval).rounded(.up))) }
}

/// The classes of traffic limited separately (issue 3): a flood of one never starves the others.
public enum TrafficClass: String, Sendable, Hashable, CaseIterable {
    /// Requests without a proof on a paid route (answered 402).
    case unpaid
    /// Requests carrying a proof.
    case paid
    /// Proofs found invalid (counted before any facilitator call).
    case invalid
}

/// The outcome of asking a limiter.
public struct RateDecision: Sendable, Hashable {
    public var allowed: Bool
    /// Requests still allowed at once.
    public var remaining: Int
    /// Seconds until the next request would be allowed (0 when allowed).
    public var retryAfterSeconds: Int
    /// Seconds until the whole burst is available again.
    public var resetSeconds: Int
}
