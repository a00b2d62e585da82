/// Whether a client's authorization outlives the slowest paid request on a route: it must still be
/// valid when the last `/settle` call is made.
public struct TimingBudget: Sendable, Hashable, Codable {
    public var resource: String
    /// Σ facilitator timeouts on the route's slowest network (failover tries each in turn).
    public var verifySeconds: Int
    public var upstreamSeconds: Int
    /// Twice the verify figure: a pending settlement is asked once more.
    public var settleSeconds: Int
    public var totalSeconds: Int
    /// The gateway refuses an authorization valid for less than this on arrival.
    public var marginSeconds: Int
    public var maxTimeoutSeconds: Int
    /// `maxTimeoutSeconds ≥ totalSeconds + marginSeconds`.
    public var fits: Bool
    public var recommendedMaxTimeoutSeconds: Int
}
