/// The limiters of one gateway: per traffic class, per key kind (client, payer, IP prefix), with
/// optional per-route overrides. Keys are prefixed by kind so a client id never shares a bucket
/// with an address.
public struct TrafficLimits: Sendable {
    /// Limits of one class; nil disables it.
    public struct ClassLimits: Sendable {
        public var unpaid: RateLimit?
        public var paid: RateLimit?
        public var invalid: RateLimit?
        public init(unpaid: RateLimit? = nil, paid: RateLimit? = nil, invalid: RateLimit? = nil) {
            self.unpaid = unpaid
            self.paid = paid
            self.invalid = invalid
        }

        subscript(trafficClass: TrafficClass) -> RateLimit? {
            switch trafficClass {
            case .unpaid: unpaid
            case .paid: paid
            case .invalid: invalid
            }
        }
    }

    public var ipv4PrefixBits: Int
    public var ipv6PrefixBits: Int
    private let global: [TrafficClass: RateLimiter]
    private let perRoute: [String: [TrafficClass: RateLimiter]]

    public init(global: ClassLimits, perRoute: [String: ClassLimits] = [:], maxKeys: Int = 100_000,
                ipv4PrefixBits: Int = 32, ipv6PrefixBits: Int = 64) {
        func limiters(_ limits: ClassLimits) -> [TrafficClass: RateLimiter] {
            var result: [TrafficClass: RateLimiter] = [:]
            for trafficClass in TrafficClass.allCases {
                if let limit = limits[trafficClass] { result[trafficClass] = RateLimiter(limit: limit, maxKeys: maxKeys) }
            }
            return result
        }
        self.global = limiters(global)
        self.perRoute = perRoute.mapValues(limiters)
        self.ipv4PrefixBits = ipv4PrefixBits
        self.ipv6PrefixBits = ipv6PrefixBits
    }

    /// No limits at all.
    public static let unlimited = TrafficLimits(global: ClassLimits())

    /// A refusal: which class and key kind ran out, and the decision's figures for the headers.
    public struct Refusal: Sendable, Hashable {
        public var trafficClass: TrafficClass
        public var keyKind: String
        public var limit: RateLimit
        public var decision: RateDecision
    }

    /// Counts one request of `trafficClass` against every key given; refuses if any is exhausted.
    /// Keys are counted only when all of them allow the request, so a refused request costs nothing.
    public func admit(_ trafficClass: TrafficClass, resource: String, keys: [LimitKey], now: Double) -> Refusal? {
        let limiter = perRoute[resource]?[trafficClass] ?? global[trafficClass]
        guard let limiter else { return nil }
        for key in keys {
            let decision = limiter.peek(key.description, now: now)
            if !decision.allowed { return Refusal(trafficClass: trafficClass, keyKind: key.kind, limit: limiter.limit, decision: decision) }
        }
        for key in keys { _ = limiter.admit(key.description, now: now) }
        return nil
    }

    /// Whether `trafficClass` is exhausted for any key, without counting.
    public func isExhausted(_ trafficClass: TrafficClass, resource: String, keys: [LimitKey], now: Double) -> Refusal? {
        guard let limiter = perRoute[resource]?[trafficClass] ?? global[trafficClass] else { return nil }
        for key in keys {
            let decision = limiter.peek(key.description, now: now)
            if !decision.allowed { return Refusal(trafficClass: trafficClass, keyKind: key.kind, limit: limiter.limit, decision: decision) }
        }
        return nil
    }

    /// The IP prefix a peer address is counted under (`203.0.113.0/24`, `2001:db8::/64`).
    public func ipPrefix(_ address: String?) -> String {
        guard let address else { return "unknown" }
        return IPPrefix.of(address, ipv4Bits: ipv4PrefixBits, ipv6Bits: ipv6PrefixBits)
    }
}

/// What a request is counted under: a client id, a payer address or an IP prefix.
public struct LimitKey: Sendable, Hashable, CustomStringConvertible {
    public var kind: String
    public var value: String
    public init(_ kind: String, _ value: String) {
        self.kind = kind
        self.value = value
    }

    public var description: String { "\(kind):\(value)" }
}
