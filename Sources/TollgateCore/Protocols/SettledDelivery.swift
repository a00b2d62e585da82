import Synchronization

/// One delivery of a settled payment's answer, named so that a delivery that did not reach its client can be told
/// from any other (a retry served meanwhile on another connection or instance). The write that records the flow's
/// delivery stamps its settlement intent with the token; a second delivery of a flow already delivered (a replay, a
/// retry racing it) clears it. A lost delivery reopens the flow only while its own token is still there
/// (`TollgateStore.reopenDelivery`): never once anyone else may have been served.
public struct DeliveryToken: Sendable, Hashable, CustomStringConvertible {
    public let value: Int64

    public init(_ value: Int64) { self.value = value }

    public var description: String { String(value) }

    /// A token no other delivery of this process has, nor (counted on from a random start) another instance's.
    public static func next() -> DeliveryToken { DeliveryToken(counter.add(1, ordering: .relaxed).newValue & Int64.max) }

    private static let counter = Atomic<Int64>(Int64.random(in: 0 ... Int64.max / 2))
}

/// A settled answer as a door hands it to its client: if the door cannot write it, it calls `Gateway.undelivered`.
public struct SettledDelivery: Sendable, Hashable {
    public var correlationId: String
    /// The authorization that paid.
    public var key: ProofKey
    public var token: DeliveryToken

    public init(correlationId: String, key: ProofKey, token: DeliveryToken) {
        self.correlationId = correlationId
        self.key = key
        self.token = token
    }
}

/// What became of a delivery that did not reach its client (`TollgateStore.reopenDelivery`).
public enum ReopenedDelivery: String, Sendable, Hashable {
    /// Settled and undelivered again, with an answer its owner can fetch with the same proof: the retry gets it (and
    /// records its delivery); if nobody comes back, the reconciler refunds it after the idempotency window.
    case keptForOwner = "kept_for_retry"
    /// Settled and undelivered again, not kept for a retry (nothing its owner could fetch, a package purchase, or the
    /// caller said not to keep it): the answer is withdrawn, and the caller refunds it (`onlyIfUndelivered`).
    case notKept = "not_kept"
    /// Nothing changed: the flow was delivered more than once (a retry served meanwhile), or is no longer settled and
    /// delivered (refunded, under review, purged).
    case unchanged
}

extension ReopenedDelivery {
    /// What a reopened flow becomes: kept for its owner when `keep` and the answer kept for the flow (`kept`, unexpired)
    /// is its own and its owner can fetch it again. Never for a package purchase (`grantedUnits`): its units could be
    /// spent while it waits, and a refund takes back only what the balance still holds.
    public static func reopened(kept: StoredResponse?, correlationId: String, grantedUnits: Bool, keep: Bool) -> ReopenedDelivery {
        guard keep, !grantedUnits, let kept, kept.correlationId == correlationId, kept.isRetrievableByOwner else { return .notKept }
        return .keptForOwner
    }
}
