import Crypto
import Synchronization

/// Remembers, for a short time, proofs already found invalid, so the same bytes sent again are
/// refused without decoding and verifying them again. Keyed by a digest of the proof exactly as sent,
/// so an invalid proof can never shadow a valid one that shares its payer or nonce. Bounded: the oldest
/// entries go first.
public final class NegativeCache: Sendable {
    private struct State {
        var entries: [[UInt8]: (reason: Reason, expires: Double)] = [:]
        var order: [[UInt8]] = []
        var head = 0
    }

    public let capacity: Int
    public let ttlSeconds: Double
    private let state = Mutex(State())

    public init(capacity: Int = 50_000, ttlSeconds: Double = 60) {
        self.capacity = max(1, capacity)
        self.ttlSeconds = ttlSeconds
    }

    /// The journey's own refusals that depend only on the proof's bytes (and time moving forward), never on
    /// which request carried it or on state that can change back; each rail adds its own
    /// (`RailWire.deterministicRefusals`).
    public static let cacheable: Set<Reason> = [.offerMissing, .offerInvalid, .offerExpired, .offerTermsMismatch, .invalidPayload]

    public static func key(_ raw: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: raw)) }

    public func reason(for key: [UInt8], now: Double) -> Reason? {
        state.withLock { state in
            guard let entry = state.entries[key], entry.expires > now else { return nil }
            return entry.reason
        }
    }

    /// Remembers a refusal when it is deterministic: one of the journey's (`cacheable`) or of the rail's (`railRefusals`).
    /// A proof that echoes no offer (`RailWire.echoesOffers` false) is judged against the request that carries it, so
    /// only what its bytes alone decide is remembered (the rail's own list, and an unreadable payload): the same bytes
    /// refused on one route may pay another, and a copy sent to the wrong route first must not shut out the right one.
    public func remember(_ key: [UInt8], reason: Reason, now: Double, railRefusals: Set<Reason> = [], echoesOffers: Bool = true) {
        let journeyRefusals = echoesOffers ? Self.cacheable : [.invalidPayload]
        guard journeyRefusals.contains(reason) || railRefusals.contains(reason) else { return }
        state.withLock { state in
            if state.entries[key] == nil {
                if state.order.count < capacity {
                    state.order.append(key)
                } else {
                    state.entries[state.order[state.head]] = nil
                    state.order[state.head] = key
                    state.head = (state.head + 1) % capacity
                }
            }
            state.entries[key] = (reason, now + ttlSeconds)
        }
    }

    public var count: Int { state.withLock { $0.entries.count } }
}
