import Logging
import Synchronization

/// Counts invalid proofs per key in a store every instance shares (PostgreSQL), in fixed windows.
public protocol InvalidProofCounter: Sendable {
    /// Adds one invalid proof to each key's count in the window starting at `windowStart` (Unix seconds) and returns
    /// the highest count among them afterwards.
    func countInvalidProof(keys: [String], windowStart: Int64) async throws -> Int
}

/// The invalid-proof budget shared by every instance on one store (`limits.shared_invalid: true`).
///
/// Each instance still applies its own limiter first; this adds one budget per key for the whole cluster: in each
/// window of `windowSeconds`, a key may present `burst + rate × window` invalid proofs across all instances. Every
/// invalid proof is counted in the store (a single autocommit statement, never under the write lock), and an instance
/// that sees a key's count pass the allowance blocks that key locally until the window ends. So over a window the
/// cluster lets through at most the allowance plus one invalid proof per other instance (each learns on its next
/// one), and the store is written only for proofs already found invalid, never for valid traffic.
///
/// When the store cannot be reached, nothing is blocked by it (the local limiter still applies): an outage must not
/// turn into a refusal of honest clients.
public final class SharedInvalidBudget: Sendable {
    public let limit: RateLimit
    public let windowSeconds: Int64
    let counter: any InvalidProofCounter
    let maxKeys: Int
    let logger: Logger
    /// Blocked keys and the Unix second their window ends.
    private let blocked = Mutex<[String: Int64]>([:])

    public init(counter: any InvalidProofCounter, limit: RateLimit, windowSeconds: Int64 = 10, maxKeys: Int = 100_000, logger: Logger) {
        self.counter = counter
        self.limit = limit
        self.windowSeconds = max(1, windowSeconds)
        self.maxKeys = maxKeys
        self.logger = logger
    }

    /// Invalid proofs one key may present in one window, across every instance.
    public var allowance: Int { limit.burst + Int((limit.ratePerSecond * Double(windowSeconds)).rounded(.down)) }

    /// The refusal for the first of `keys` whose cluster-wide budget is spent, if any.
    public func refusal(_ keys: [LimitKey], now: Double) -> TrafficLimits.Refusal? {
        let second = Int64(now)
        return blocked.withLock { blocked in
            for key in keys {
                guard let until = blocked[key.description] else { continue }
                guard until > second else {
                    blocked[key.description] = nil
                    continue
                }
                let wait = Int(until - second)
                return TrafficLimits.Refusal(trafficClass: .invalid, keyKind: key.kind, limit: limit,
                                             decision: RateDecision(allowed: false, remaining: 0, retryAfterSeconds: wait, resetSeconds: wait))
            }
            return nil
        }
    }

    /// Counts one invalid proof for `keys` in the store; blocks them here when the count passes the allowance.
    public func record(_ keys: [LimitKey], now: Double) async {
        guard !keys.isEmpty else { return }
        let second = Int64(now)
        let windowStart = second - second % windowSeconds
        let count: Int
        do {
            count = try await counter.countInvalidProof(keys: keys.map(\.description), windowStart: windowStart)
        } catch {
            logger.debug("cannot count an invalid proof in the shared budget", metadata: ["tollgate.error": "\(error)"])
            return
        }
        guard count > allowance else { return }
        let until = windowStart + windowSeconds
        blocked.withLock { blocked in
            if blocked.count >= maxKeys { blocked = blocked.filter { $0.value > second } }
            guard blocked.count < maxKeys else { return }
            for key in keys { blocked[key.description] = until }
        }
    }
}
