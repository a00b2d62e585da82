/// The record of settlements in flight: written before `/settle` is sent, read by a retry of the same proof
/// and by the reconciler, so no outcome is lost to a crash, a timeout or an answer that cannot be read.
public protocol SettlementLedger: Sendable {
    /// Records the intent to settle before the attempt is sent: the reservation becomes `settling`, and
    /// `events` are committed with it. Recording a later attempt (another facilitator, after the first could
    /// not be connected to) replaces the attempt.
    func recordSettlementIntent(_ intent: SettlementIntent, events: [AuditEvent]) async throws

    /// The intent recorded for a proof, with its reservation's state; nil when there is none.
    func openSettlement(_ key: ProofKey) async throws -> OpenSettlement?

    /// Intents still to resolve: outcome `open`, or settled without delivery and not yet refunded or reviewed;
    /// oldest first (by creation, then correlation id), starting after `after` when given (`OpenSettlement.cursor`).
    func unresolvedSettlements(after: SettlementCursor?, limit: Int) async throws -> [OpenSettlement]

    /// Intents an operator must decide (`review`).
    func settlementsForReview(limit: Int) async throws -> [OpenSettlement]

    /// Sets the outcome of an intent, and marks it delivered when `delivered` is true, with `events`.
    func resolveSettlement(_ key: ProofKey, outcome: OpenSettlement.Outcome, delivered: Bool, events: [AuditEvent]) async throws

    /// Records the delivery `delivery` of a settled payment's kept answer (released for its owner's retries) with
    /// `events`, stamped as `TollgateStore.finish` stamps one, only while the intent is still `settled`: false, and nothing written, when it was refunded or put under
    /// review meanwhile (by the reconciler, an operator or another instance), so an answer is never both served and refunded.
    func deliverSettled(_ key: ProofKey, delivery: DeliveryToken, events: [AuditEvent]) async throws -> Bool

    /// Lists a settled, undelivered payment for the operator's review (`review`) with `events`, only while it is still
    /// settled and undelivered: false, and nothing written, when a retry delivered it or it was refunded meanwhile.
    func holdForReview(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool

    /// After a restart nothing of an earlier process is in flight: every `settling` reservation becomes
    /// `unknown` (its `/settle` may have been sent). Returns the intents changed.
    func abandonSettling(events: @escaping @Sendable (OpenSettlement) -> [AuditEvent]) async throws -> [OpenSettlement]
}

extension SettlementLedger {
    /// The oldest `limit` intents still to resolve.
    public func unresolvedSettlements(limit: Int) async throws -> [OpenSettlement] {
        try await unresolvedSettlements(after: nil, limit: limit)
    }
}

/// A place in the list of unresolved intents: the next page starts after the intent created at `createdAtMillis`
/// with `correlationId` (the list's order), whatever was resolved since.
public struct SettlementCursor: Sendable, Hashable, Codable {
    public var createdAtMillis: Int64
    public var correlationId: String

    public init(createdAtMillis: Int64, correlationId: String) {
        self.createdAtMillis = createdAtMillis
        self.correlationId = correlationId
    }

    /// Whether an intent comes after this place in the list.
    public func precedes(_ open: OpenSettlement) -> Bool {
        (createdAtMillis, correlationId) < (open.intent.createdAtMillis, open.intent.correlationId)
    }
}

extension OpenSettlement {
    /// This intent's place in the list of unresolved ones.
    public var cursor: SettlementCursor { SettlementCursor(createdAtMillis: intent.createdAtMillis, correlationId: intent.correlationId) }
}
