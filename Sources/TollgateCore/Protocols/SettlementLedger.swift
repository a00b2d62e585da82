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
    /// oldest first.
    func unresolvedSettlements(limit: Int) async throws -> [OpenSettlement]

    /// Intents an operator must decide (`review`).
    func settlementsForReview(limit: Int) async throws -> [OpenSettlement]

    /// Sets the outcome of an intent, and marks it delivered when `delivered` is true, with `events`.
    func resolveSettlement(_ key: ProofKey, outcome: OpenSettlement.Outcome, delivered: Bool, events: [AuditEvent]) async throws

    /// After a restart nothing of an earlier process is in flight: every `settling` reservation becomes
    /// `unknown` (its `/settle` may have been sent). Returns the intents changed.
    func abandonSettling(events: @escaping @Sendable (OpenSettlement) -> [AuditEvent]) async throws -> [OpenSettlement]
}
