import Logging
import Synchronization
import Testing
import TollgateCore

/// The invalid-proof budget several instances share: counted in the store, enforced by each instance locally.
@Suite struct SharedInvalidBudgetTests {
    /// The store's counter, in memory: the count per key and window, as every instance would see it.
    final class Counter: InvalidProofCounter {
        let counts = Mutex<[String: Int]>([:])
        let failing = Mutex(false)

        func countInvalidProof(keys: [String], windowStart: Int64) async throws -> Int {
            if failing.withLock({ $0 }) { throw TollgateError(.storeUnavailable, "down") }
            return counts.withLock { counts in
                keys.map { key in
                    counts["\(key)@\(windowStart)", default: 0] += 1
                    return counts["\(key)@\(windowStart)"]!
                }.max() ?? 0
            }
        }
    }

    static let limit = RateLimit(ratePerSecond: 0.5, burst: 2)!  // allowance over 10 s: 2 + 5 = 7
    static let keys = [LimitKey("ip", "203.0.113.0/24"), LimitKey("payer", "0xabc")]

    @Test func twoInstancesTogetherGetOneAllowancePerWindow() async throws {
        let counter = Counter()
        let a = SharedInvalidBudget(counter: counter, limit: Self.limit, logger: Logger(label: "test"))
        let b = SharedInvalidBudget(counter: counter, limit: Self.limit, logger: Logger(label: "test"))
        #expect(a.allowance == 7)
        let now = 1_800_000_003.0
        // Seven invalid proofs spread over both instances: nobody is blocked yet.
        for index in 0..<7 { await (index.isMultiple(of: 2) ? a : b).record(Self.keys, now: now) }
        #expect(a.refusal(Self.keys, now: now) == nil && b.refusal(Self.keys, now: now) == nil)
        // The eighth, at A: A blocks the key until the window ends; B learns at its next one.
        await a.record(Self.keys, now: now)
        let refusal = try #require(a.refusal(Self.keys, now: now))
        #expect(refusal.trafficClass == .invalid && refusal.keyKind == "ip" && refusal.decision.retryAfterSeconds == 7)
        #expect(b.refusal(Self.keys, now: now) == nil)
        await b.record(Self.keys, now: now)
        #expect(b.refusal(Self.keys, now: now) != nil)
        // Another key of the same request (a different IP, same payer) is blocked through the payer.
        #expect(a.refusal([LimitKey("ip", "198.51.100.0/24"), LimitKey("payer", "0xabc")], now: now)?.keyKind == "payer")
        // A new window: the budget is whole again.
        #expect(a.refusal(Self.keys, now: now + 7) == nil)
        await a.record(Self.keys, now: now + 7)
        #expect(a.refusal(Self.keys, now: now + 7) == nil)
    }

    @Test func aStoreThatCannotCountBlocksNobody() async throws {
        let counter = Counter()
        counter.failing.withLock { $0 = true }
        let budget = SharedInvalidBudget(counter: counter, limit: Self.limit, logger: Logger(label: "test"))
        for _ in 0..<50 { await budget.record(Self.keys, now: 1_800_000_000) }
        #expect(budget.refusal(Self.keys, now: 1_800_000_000) == nil)
    }

    @Test func blockedKeysStayBounded() async throws {
        let counter = Counter()
        let budget = SharedInvalidBudget(counter: counter, limit: RateLimit(ratePerSecond: 0.1, burst: 1)!, maxKeys: 10, logger: Logger(label: "test"))
        for index in 0..<100 {
            let key = [LimitKey("ip", "10.0.\(index).0/24")]
            await budget.record(key, now: 1_800_000_000)
            await budget.record(key, now: 1_800_000_000)
            await budget.record(key, now: 1_800_000_000)
        }
        let blocked = (0..<100).filter { budget.refusal([LimitKey("ip", "10.0.\($0).0/24")], now: 1_800_000_000) != nil }.count
        #expect(blocked == 10)
    }
}
