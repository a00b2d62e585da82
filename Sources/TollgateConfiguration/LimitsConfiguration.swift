import TollgateCore

/// The `limits` section: rates per traffic class, globally and per route.
public struct LimitsConfiguration: Sendable {
    public var global: TrafficLimits.ClassLimits
    /// Overrides by route resource id.
    public var perRoute: [String: TrafficLimits.ClassLimits]
    public var maxKeys: Int
    public var ipv4PrefixBits: Int
    public var ipv6PrefixBits: Int
    public var invalidProofCacheSeconds: Int
    /// `shared_invalid`: the global invalid-proof limit is also counted for all instances together, through the shared
    /// store (PostgreSQL only; `SharedInvalidBudget`). Off: every instance counts on its own.
    public var sharedInvalid = false

    /// Limits that stop floods without troubling honest clients: 402s at 20/s (burst 40), paid retries at
    /// 10/s (burst 20), invalid proofs at 1/s (burst 5), per client id, payer and IP address.
    public static let defaults = LimitsConfiguration(
        global: .init(unpaid: RateLimit(ratePerSecond: 20, burst: 40), paid: RateLimit(ratePerSecond: 10, burst: 20),
                      invalid: RateLimit(ratePerSecond: 1, burst: 5)),
        perRoute: [:], maxKeys: 100_000, ipv4PrefixBits: 32, ipv6PrefixBits: 64, invalidProofCacheSeconds: 60)

    public func trafficLimits() -> TrafficLimits {
        TrafficLimits(global: global, perRoute: perRoute, maxKeys: maxKeys, ipv4PrefixBits: ipv4PrefixBits, ipv6PrefixBits: ipv6PrefixBits)
    }
}
