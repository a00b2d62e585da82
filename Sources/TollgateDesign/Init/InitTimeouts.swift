import TollgateConfiguration

/// The timeouts `tollgate init` writes, and a `max_timeout_seconds` for every paid route that outlives
/// them (`TimingBudget`, lint TG118): the worst case of one paid request rounded up to a multiple of 10,
/// never below 60. When that would pass TG109's threshold (300 s), the facilitator and upstream timeouts
/// are lowered to 5 s and 20 s first. A list of facilitators so long that even those do not fit keeps the
/// longer lifetime: TG109 then warns, but an authorization valid too long is safer than one that expires
/// before it is settled.
public struct InitTimeouts: Sendable, Hashable {
    public static let facilitatorSeconds = 10
    public static let upstreamSeconds = 30
    public static let lowFacilitatorSeconds = 5
    public static let lowUpstreamSeconds = 20
    /// The loader's default lifetime, the least one written.
    public static let minimumMaxTimeoutSeconds = 60

    /// Per facilitator call.
    public let facilitatorSeconds: Int
    /// The budget of a generated route (its `resource` left empty): the upstream timeout, the worst case and
    /// `max_timeout_seconds`.
    public let budget: TimingBudget
    /// The timeouts were lowered from 10 s and 30 s to stay within TG109's threshold.
    public let lowered: Bool

    public var upstreamSeconds: Int { budget.upstreamSeconds }
    /// For every paid route.
    public var maxTimeoutSeconds: Int { budget.maxTimeoutSeconds }

    /// `facilitators`: how many serve the route's network, in failover order.
    public init(facilitators: Int) {
        let usual = Self.budget(facilitators: facilitators, facilitatorSeconds: Self.facilitatorSeconds, upstreamSeconds: Self.upstreamSeconds)
        lowered = usual.maxTimeoutSeconds > ConfigurationLint.maxTimeoutThresholdSeconds
        facilitatorSeconds = lowered ? Self.lowFacilitatorSeconds : Self.facilitatorSeconds
        budget = lowered
            ? Self.budget(facilitators: facilitators, facilitatorSeconds: Self.lowFacilitatorSeconds, upstreamSeconds: Self.lowUpstreamSeconds)
            : usual
    }

    /// The budget with `max_timeout_seconds` = the worst case rounded up to a multiple of 10, at least 60.
    private static func budget(facilitators: Int, facilitatorSeconds: Int, upstreamSeconds: Int) -> TimingBudget {
        let timeouts = [Array(repeating: facilitatorSeconds, count: facilitators)]
        let worstCase = TimingBudget(resource: "", facilitatorTimeouts: timeouts, upstreamSeconds: upstreamSeconds, maxTimeoutSeconds: 0)
            .worstCaseSeconds
        let lifetime = max(minimumMaxTimeoutSeconds, (worstCase + 9) / 10 * 10)
        return TimingBudget(resource: "", facilitatorTimeouts: timeouts, upstreamSeconds: upstreamSeconds, maxTimeoutSeconds: lifetime)
    }
}
