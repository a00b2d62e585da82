import Crypto

/// Remembers, for a short time, proofs already found invalid, so the same bytes sent again are
/// refused without decoding and verifying them again. Keyed by a digest of the proof exactly as sent,
/// so an invalid proof can never shadow a valid one that shares its payer or nonce. Bounded: the oldest
/// entries go first.
public final class NegativeCache: Sendable {
    private let memory: ExpiringMemory<[UInt8], Reason>

    public var capacity: Int { memory.capacity }
    public var ttlSeconds: Double { memory.ttlSeconds }

    public init(capacity: Int = 50_000, ttlSeconds: Double = 60) {
        memory = ExpiringMemory(capacity: capacity, ttlSeconds: ttlSeconds)
    }

    /// The journey's own refusals that depend only on the proof's bytes (and time moving forward), never on
    /// which request carried it or on state that can change back; each rail adds its own
    /// (`RailWire.deterministicRefusals`).
    public static let cacheable: Set<Reason> = [.offerMissing, .offerInvalid, .offerExpired, .offerTermsMismatch, .invalidPayload]

    public static func key(_ raw: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: raw)) }

    public func reason(for key: [UInt8], now: Double) -> Reason? { memory.value(for: key, now: now) }

    /// Remembers a refusal when it is deterministic: one of the journey's (`cacheable`) or of the rail's (`railRefusals`).
    /// A proof that echoes no offer (`RailWire.echoesOffers` false) is judged against the request that carries it, so
    /// only what its bytes alone decide is remembered (the rail's own list, and an unreadable payload): the same bytes
    /// refused on one route may pay another, and a copy sent to the wrong route first must not shut out the right one.
    public func remember(_ key: [UInt8], reason: Reason, now: Double, railRefusals: Set<Reason> = [], echoesOffers: Bool = true) {
        let journeyRefusals = echoesOffers ? Self.cacheable : [.invalidPayload]
        guard journeyRefusals.contains(reason) || railRefusals.contains(reason) else { return }
        memory.remember(key, reason, now: now)
    }

    public var count: Int { memory.count }
}
