import Synchronization

/// Per-key GCRA limiter with bounded memory.
///
/// Each key costs one `Double` (its theoretical arrival time). The table is split into shards to keep
/// lock contention low; a shard that reaches its share of `maxKeys` drops the keys whose budget is whole
/// again (forgetting them changes nothing), then random ones. A forgotten key starts with a full burst
/// again, which is the price of a hard memory bound under a flood of distinct keys.
public final class RateLimiter: Sendable {
    public let limit: RateLimit
    public let maxKeys: Int
    private let shards: [Shard]

    /// A lock and its part of the table (a class: `Mutex` cannot live in an array).
    private final class Shard: Sendable {
        let table = Mutex<[String: Double]>([:])
    }

    public init(limit: RateLimit, maxKeys: Int = 100_000, shardCount: Int = 16) {
        self.limit = limit
        self.maxKeys = max(maxKeys, shardCount)
        self.shards = (0..<shardCount).map { _ in Shard() }
    }

    /// Counts one request for `key` at `now` (seconds, monotonic or wall clock) if it is allowed.
    public func admit(_ key: String, now: Double) -> RateDecision {
        decide(key, now: now, consume: true)
    }

    /// Whether a request would be allowed, without counting it.
    public func peek(_ key: String, now: Double) -> RateDecision {
        decide(key, now: now, consume: false)
    }

    /// Keys currently tracked (for tests and the memory figures in BENCHMARKS.md).
    public var trackedKeys: Int { shards.reduce(0) { $0 + $1.table.withLock { $0.count } } }

    private func decide(_ key: String, now: Double, consume: Bool) -> RateDecision {
        let interval = limit.interval
        let tolerance = interval * Double(limit.burst - 1)
        // High bits pick the shard: the dictionary inside uses the low bits, and keys that all share
        // their low bits would crowd into a sixteenth of its buckets.
        let shard = shards[Int((UInt64(bitPattern: Int64(key.hashValue)) >> 40) % UInt64(shards.count))]
        let perShard = maxKeys / shards.count
        return shard.table.withLock { table in
            let arrival = max(table[key] ?? now, now)
            let allowed = arrival - now <= tolerance
            let newArrival = allowed ? arrival + interval : arrival
            if consume && allowed {
                if table[key] == nil && table.count >= perShard { Self.evict(&table, now: now, keep: perShard) }
                table[key] = newArrival
            }
            let backlog = (allowed && consume ? newArrival : arrival) - now
            return RateDecision(
                allowed: allowed,
                remaining: max(0, Int(((tolerance + interval - backlog) / interval).rounded(.down))),
                retryAfterSeconds: allowed ? 0 : max(1, Int((arrival - now - tolerance).rounded(.up))),
                resetSeconds: max(0, Int(backlog.rounded(.up))))
        }
    }

    /// Frees an eighth of the shard at once, so that under a flood eviction costs O(1) per new key
    /// (amortised) rather than a scan per request. Keys whose budget is whole again go first (forgetting
    /// them changes nothing), then keys chosen at random. Random matters: removing the keys that come
    /// first in the table's own order (or rebuilding the table) leaves long probe clusters behind, and
    /// every later lookup pays for them.
    private static func evict(_ table: inout [String: Double], now: Double, keep: Int) {
        let target = keep - max(1, keep / 8)
        guard table.count > target else { return }
        var expired: [String] = []
        var live: [String] = []
        for (key, arrival) in table {
            if arrival <= now { expired.append(key) } else { live.append(key) }
        }
        for key in expired { table.removeValue(forKey: key) }
        var generator = SystemRandomNumberGenerator()
        var index = 0
        while table.count > target, index < live.count {
            live.swapAt(index, Int.random(in: index..<live.count, using: &generator))
            table.removeValue(forKey: live[index])
            index += 1
        }
    }
}
