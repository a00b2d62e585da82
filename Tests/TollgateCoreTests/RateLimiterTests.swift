import Testing
import TollgateCore

@Suite struct RateLimiterTests {
    let limit = RateLimit(ratePerSecond: 2, burst: 3)!

    @Test func allowsTheBurstThenTheRate() {
        let limiter = RateLimiter(limit: limit)
        #expect((0..<3).allSatisfy { _ in limiter.admit("k", now: 100).allowed })
        let refused = limiter.admit("k", now: 100)
        #expect(!refused.allowed)
        #expect(refused.retryAfterSeconds == 1)
        #expect(refused.remaining == 0)
        // One emission interval (0.5 s) later exactly one more fits.
        #expect(limiter.admit("k", now: 100.5).allowed)
        #expect(!limiter.admit("k", now: 100.5).allowed)
        // Keys are independent.
        #expect(limiter.admit("other", now: 100.5).allowed)
    }

    @Test func peekDoesNotCount() {
        let limiter = RateLimiter(limit: limit)
        for _ in 0..<10 { #expect(limiter.peek("k", now: 1).allowed) }
        #expect(limiter.admit("k", now: 1).remaining == 2)
    }

    @Test func memoryStaysBoundedUnderAFloodOfKeys() {
        let limiter = RateLimiter(limit: limit, maxKeys: 1600, shardCount: 16)
        for index in 0..<50_000 { _ = limiter.admit("flood-\(index)", now: 5) }
        #expect(limiter.trackedKeys <= 1600)
        #expect(limiter.trackedKeys > 800)
    }

    @Test func rejectsNonsenseLimits() {
        #expect(RateLimit(ratePerSecond: 0, burst: 1) == nil)
        #expect(RateLimit(ratePerSecond: 1, burst: 0) == nil)
        #expect(RateLimit(ratePerSecond: .infinity, burst: 1) == nil)
        #expect(RateLimit(ratePerSecond: 0.5, burst: 2)?.windowSeconds == 4)
    }

    /// An attacker with a spent client budget floods the paid class with fresh payer addresses (a new key pair signs a
    /// valid authorization for free) and fresh IPv6 prefixes, each spending its burst so none is forgotten as idle. The
    /// client's spent budget must stay spent: keys of one kind never crowd out another kind's.
    @Test func aFloodOfFreshPayersOrPrefixesNeverGivesAClientItsBudgetBack() {
        let limits = TrafficLimits(global: .init(paid: limit), maxKeys: 1_600)
        let client = [LimitKey("client", "mallory"), LimitKey("ip", "2001:db8:0:1::/64")]
        while limits.admit(.paid, resource: "r", keys: client, now: 10) == nil {}
        for index in 0..<20_000 {
            let payer = LimitKey("payer", "0x" + String(index, radix: 16))
            let prefix = LimitKey("ip", "2001:db8:\(String(index, radix: 16))::/64")
            for _ in 0..<3 { _ = limits.admit(.paid, resource: "r", keys: [payer], now: 10); _ = limits.admit(.paid, resource: "r", keys: [prefix], now: 10) }
        }
        #expect(limits.trackedKeys(.paid, kind: "payer") <= 1_600 && limits.trackedKeys(.paid, kind: "ip") <= 1_600)
        let refusal = limits.admit(.paid, resource: "r", keys: [LimitKey("client", "mallory")], now: 10)
        #expect(refusal?.keyKind == "client", "the client's spent budget was forgotten")
        #expect(limits.trackedKeys(.paid, kind: "client") == 1)
    }

    @Test func trafficLimitsCountEveryKeyOrNone() {
        let limits = TrafficLimits(global: .init(unpaid: RateLimit(ratePerSecond: 1, burst: 1)))
        let client = LimitKey("client", "a")
        #expect(limits.admit(.unpaid, resource: "r", keys: [client, LimitKey("ip", "1")], now: 0) == nil)
        // The client is exhausted: the second key must not be charged for the refused request.
        #expect(limits.admit(.unpaid, resource: "r", keys: [client, LimitKey("ip", "2")], now: 0)?.keyKind == "client")
        #expect(limits.admit(.unpaid, resource: "r", keys: [LimitKey("ip", "2")], now: 0) == nil)
        #expect(limits.admit(.paid, resource: "r", keys: [client], now: 0) == nil)
    }

    @Test(arguments: [
        ("203.0.113.77", 24, 64, "203.0.113.0/24"),
        ("203.0.113.77", 32, 64, "203.0.113.77/32"),
        ("2001:db8:1:2:3:4:5:6", 32, 64, "2001:db8:1:2:0:0:0:0/64"),
        ("::1", 32, 128, "0:0:0:0:0:0:0:1/128"),
        // An IPv4 client seen through an IPv6 socket counts as the IPv4 address it is, in either spelling.
        ("::ffff:203.0.113.77", 24, 64, "203.0.113.0/24"),
        ("::FFFF:cb00:714d", 24, 64, "203.0.113.0/24"),
        ("64:ff9b::203.0.113.77", 32, 96, "64:ff9b:0:0:0:0:0:0/96"),
        ("::ffff:1.2.3", 24, 64, "::ffff:1.2.3"),
        // A dotted quad only ends an address.
        ("1.2.3.4::", 24, 64, "1.2.3.4::"),
        ("1:1.2.3.4::5", 24, 64, "1:1.2.3.4::5"),
        // Leading zeros read as decimal; anything that is not four octets is its own key, as sent.
        ("010.000.0.1", 24, 64, "10.0.0.0/24"),
        ("256.1.1.1", 24, 64, "256.1.1.1"),
        ("1.2.3", 24, 64, "1.2.3"),
        ("1.2.3.4.5", 24, 64, "1.2.3.4.5"),
        ("1..3.4", 24, 64, "1..3.4"),
        ("1.2.3.", 24, 64, "1.2.3."),
        ("+1.2.3.4", 24, 64, "+1.2.3.4"),
    ])
    func ipPrefixes(address: String, v4: Int, v6: Int, expected: String) {
        let limits = TrafficLimits(global: .init(), ipv4PrefixBits: v4, ipv6PrefixBits: v6)
        #expect(limits.ipPrefix(address) == expected)
    }

    @Test func negativeCacheRemembersOnlyByteDeterminedRefusals() {
        let cache = NegativeCache(capacity: 2, ttlSeconds: 10)
        let a = NegativeCache.key(Array("a".utf8)), b = NegativeCache.key(Array("b".utf8)), c = NegativeCache.key(Array("c".utf8))
        let railRefusals = ScriptedRail().wire.deterministicRefusals
        // A rail's refusal is remembered only as the rail's deterministic one; a replay never (the claim may be released).
        cache.remember(a, reason: .signatureInvalid, now: 0)
        #expect(cache.reason(for: a, now: 1) == nil)
        cache.remember(a, reason: .signatureInvalid, now: 0, railRefusals: railRefusals)
        cache.remember(b, reason: .nonceAlreadyUsed, now: 0, railRefusals: railRefusals)
        #expect(cache.reason(for: a, now: 5) == .signatureInvalid)
        #expect(cache.reason(for: a, now: 11) == nil)
        #expect(cache.reason(for: b, now: 1) == nil)
        cache.remember(b, reason: .valueMismatch, now: 0, railRefusals: railRefusals)
        cache.remember(c, reason: .offerInvalid, now: 0)
        #expect(cache.count == 2)
        #expect(cache.reason(for: a, now: 1) == nil)
    }
}
