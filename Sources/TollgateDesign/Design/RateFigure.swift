/// A rate limit as configured: requests per second sustained, and the burst allowed at once.
public struct RateFigure: Sendable, Hashable, Codable, CustomStringConvertible {
    public var ratePerSecond: Double
    public var burst: Int

    public init(ratePerSecond: Double, burst: Int) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
    }

    /// `50/s, burst 100`.
    public var description: String { "\(DesignNumber.format(ratePerSecond))/s, burst \(burst)" }

    /// Both the rate and the burst at most `other`'s.
    public func isAtMost(_ other: RateFigure) -> Bool {
        ratePerSecond <= other.ratePerSecond && burst <= other.burst
    }

    /// This rate scaled by `factor`: the rate rounded to 2 decimals (at least 0.01/s), the burst rounded up (at least 1).
    public func scaled(_ factor: Double) -> RateFigure {
        RateFigure(ratePerSecond: max(0.01, DesignNumber.round(ratePerSecond * factor)),
                   burst: max(1, Int((Double(burst) * factor - 1e-9).rounded(.up))))
    }
}
