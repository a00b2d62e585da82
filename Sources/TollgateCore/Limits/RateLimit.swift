/// A rate: `ratePerSecond` sustained, up to `burst` at once (GCRA, the leaky bucket as a meter).
public struct RateLimit: Sendable, Hashable {
    public var ratePerSecond: Double
    public var burst: Int

    /// Returns nil unless both are positive.
    public init?(ratePerSecond: Double, burst: Int) {
        guard ratePerSecond > 0, ratePerSecond.isFinite, burst >= 1 else { return nil }
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
