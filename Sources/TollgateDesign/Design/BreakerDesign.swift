/// A facilitator's circuit breaker.
public struct BreakerDesign: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Consecutive failed calls that open it.
    public var failures: Int
    /// A call slower than this counts as failed.
    public var slowMillis: Int
    /// How long it stays open (out of rotation).
    public var openSeconds: Int

    public var description: String { "\(failures) failures or calls > \(slowMillis) ms → out for \(openSeconds) s" }
}
