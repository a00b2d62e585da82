import Synchronization

/// One delivery of a settled payment's answer, named so that a delivery that did not reach its client can be told
/// from any later one (a retry served meanwhile on another connection or instance). Every write that records a
/// delivery or serves a kept answer again stamps the flow's settlement intent with its token; a lost delivery reopens
/// the flow only while its own token is the last one (`TollgateStore.reopenDelivery`).
public struct DeliveryToken: Sendable, Hashable, CustomStringConvertible {
    public let value: Int64

    public init(_ value: Int64) { self.value = value }

    public var description: String { String(value) }

    /// A token no other delivery of this process has, nor (drawn from a random start in 63 bits) another instance's.
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
    /// Settled and undelivered again, with nothing its owner could fetch: the caller refunds it (`onlyIfUndelivered`).
    case reopened
    /// Nothing changed: a later delivery was recorded (a retry served meanwhile), or the flow is no longer settled and
    /// delivered (refunded, under review, purged).
    case unchanged
}
