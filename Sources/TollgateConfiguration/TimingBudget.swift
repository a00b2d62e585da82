import TollgateX402

/// Whether a client's authorization outlives the slowest paid request on a route: it must still be
/// valid when the last `/settle` call is made. The one place this is computed, for `tollgate design`'s
/// timing budget, lint TG118 and the timeouts `tollgate init` writes:
///
///     verify     = Σ timeouts of the facilitators serving the network (failover tries each in turn),
///                  on the slowest network the route accepts
///     settle     = 2 × verify (a pending settlement is asked once more)
///     worst case = verify + upstream timeout + settle + 6 s margin
///     fits       = max_timeout_seconds ≥ worst case
///
/// The margin is the least validity the gateway accepts on arrival (`ExactEVMRail.validBeforeMarginSeconds`).
public struct TimingBudget: Sendable, Hashable, Codable {
    public var resource: String
    /// Σ facilitator timeouts on the route's slowest network (failover tries each in turn).
    public var verifySeconds: Int
    public var upstreamSeconds: Int
    /// Twice the verify figure: a pending settlement is asked once more.
    public var settleSeconds: Int
    /// verify + upstream + settle.
    public var totalSeconds: Int
    /// The gateway refuses an authorization valid for less than this on arrival.
    public var marginSeconds: Int
    public var maxTimeoutSeconds: Int
    /// `maxTimeoutSeconds ≥ totalSeconds + marginSeconds`.
    public var fits: Bool
    public var recommendedMaxTimeoutSeconds: Int

    /// The margin every budget adds: `validBefore ≥ now + 6 s` on arrival.
    public static let validityMarginSeconds = Int(ExactEVMRail.validBeforeMarginSeconds)

    /// `facilitatorTimeouts`: per network the route accepts, the timeouts of the facilitators serving it, in seconds.
    public init(resource: String, facilitatorTimeouts: [[Int]], upstreamSeconds: Int, maxTimeoutSeconds: Int) {
        let verify = facilitatorTimeouts.map { $0.reduce(0, +) }.max() ?? 0
        self.resource = resource
        self.verifySeconds = verify
        self.upstreamSeconds = upstreamSeconds
        self.settleSeconds = 2 * verify
        self.totalSeconds = verify + upstreamSeconds + 2 * verify
        self.marginSeconds = Self.validityMarginSeconds
        self.maxTimeoutSeconds = maxTimeoutSeconds
        let worstCase = totalSeconds + marginSeconds
        self.fits = maxTimeoutSeconds >= worstCase
        self.recommendedMaxTimeoutSeconds = max(maxTimeoutSeconds, worstCase)
    }

    /// The least `max_timeout_seconds` that fits: `totalSeconds + marginSeconds`.
    public var worstCaseSeconds: Int { totalSeconds + marginSeconds }

    /// `verify 20 + upstream 30 + settle 40 + 6 s margin`: the terms of `worstCaseSeconds`, in seconds.
    public var worstCaseTerms: String {
        "verify \(verifySeconds) + upstream \(upstreamSeconds) + settle \(settleSeconds) + \(marginSeconds) s margin"
    }
}
