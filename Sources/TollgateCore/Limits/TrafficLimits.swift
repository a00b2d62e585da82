/// The limiters of one gateway: per traffic class, per key kind (client, payer, IP prefix), with
/// optional per-route overrides. Each kind has a table of its own (`KindLimiters`), so a flood of one kind's keys can
/// only crowd out keys of that kind.
public struct TrafficLimits: Sendable {
    /// One class's limiters, one per key kind. A table full of live keys forgets arbitrary ones (a forgotten key starts
    /// with a full burst): payer addresses cost nothing to make (a fresh key pair signs a valid authorization) and an
    /// IPv6 network holds many prefixes, so sharing a table with them would let a flood of fresh ones give a client its
    /// spent budget back. Client ids come from configured keys and issuers.
    struct KindLimiters: Sendable {
        let client: RateLimiter
        let payer: RateLimiter
        let ip: RateLimiter

        init(limit: RateLimit, maxKeys: Int) {
            client = RateLimiter(limit: limit, maxKeys: maxKeys)
            payer = RateLimiter(limit: limit, maxKeys: maxKeys)
            ip = RateLimiter(limit: limit, maxKeys: maxKeys)
        }

        var limit: RateLimit { client.limit }

        subscript(kind: String) -> RateLimiter {
            switch kind {
            case "client": client
            case "payer": payer
            default: ip
            }
        }
    }

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
    private let global: [TrafficClass: KindLimiters]
    private let perRoute: [String: [TrafficClass: KindLimiters]]

    public init(global: ClassLimits, perRoute: [String: ClassLimits] = [:], maxKeys: Int = 100_000,
                ipv4PrefixBits: Int = 32, ipv6PrefixBits: Int = 64) {
        func limiters(_ limits: ClassLimits) -> [TrafficClass: KindLimiters] {
            var result: [TrafficClass: KindLimiters] = [:]
            for trafficClass in TrafficClass.allCases {
                if let limit = limits[trafficClass] { result[trafficClass] = KindLimiters(limit: limit, maxKeys: maxKeys) }
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
        guard let limiters = perRoute[resource]?[trafficClass] ?? global[trafficClass] else { return nil }
        if let refusal = exhausted(trafficClass, limiters, keys: keys, now: now) { return refusal }
        for key in keys { _ = limiters[key.kind].admit(key.value, now: now) }
        return nil
    }

    /// Whether `trafficClass` is exhausted for any key, without counting.
    public func isExhausted(_ trafficClass: TrafficClass, resource: String, keys: [LimitKey], now: Double) -> Refusal? {
        guard let limiters = perRoute[resource]?[trafficClass] ?? global[trafficClass] else { return nil }
        return exhausted(trafficClass, limiters, keys: keys, now: now)
    }

    private func exhausted(_ trafficClass: TrafficClass, _ limiters: KindLimiters, keys: [LimitKey], now: Double) -> Refusal? {
        for key in keys {
            let decision = limiters[key.kind].peek(key.value, now: now)
            if !decision.allowed { return Refusal(trafficClass: trafficClass, keyKind: key.kind, limit: limiters.limit, decision: decision) }
        }
        return nil
    }

    /// Keys tracked for `trafficClass` (global limits) by kind, for tests and the memory figures in BENCHMARKS.md.
    public func trackedKeys(_ trafficClass: TrafficClass, kind: String) -> Int {
        global[trafficClass]?[kind].trackedKeys ?? 0
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
