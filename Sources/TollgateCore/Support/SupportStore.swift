/// What support needs from the store: flows by any key, disputes, and the material of an evidence bundle.
/// Every change commits its audit event (stage `dispute`, in the disputed flow) in the same transaction.
public protocol SupportStore: Sendable {
    /// The flows a key leads to, the flow with the latest event first, at most `limit`.
    func flows(matching key: TraceKey, limit: Int) async throws -> TraceMatch

    /// Opens a dispute of a flow. Throws `TollgateError` `unknownFlow` when no event carries the correlation
    /// id (and the flow is not `archived`: its events are only in the audit archive, `AuditArchiveSearch`, which says
    /// whose it is), `disputeAlreadyOpen` (with the open dispute's id) when the flow has one, `invalid` for blank text.
    func openDispute(correlationId: String, reason: String, actor: String, nowMillis: Int64, archived: FlowIdentity?) async throws -> DisputeRecord

    /// Closes an open dispute. Throws `TollgateError` `unknownDispute` or `disputeNotOpen`.
    func closeDispute(id: String, resolution: String, actor: String, nowMillis: Int64) async throws -> DisputeRecord

    /// Disputes, newest first, optionally only those in `state`.
    func disputes(state: DisputeRecord.State?, limit: Int) async throws -> [DisputeRecord]

    /// One dispute by id.
    func dispute(id: String) async throws -> DisputeRecord?

    /// The disputes of one flow, newest first.
    func disputes(correlationId: String) async throws -> [DisputeRecord]

    /// The flow's events, linked flows (one level), proofs, payments, refunds and the chain head, read in
    /// one transaction; nil when no event carries the correlation id, unless `withoutEvents` (its events may all be in
    /// the audit archive, which `GatewayStore.evidenceMaterial(correlationId:archives:)` adds).
    func evidenceMaterial(correlationId: String, withoutEvents: Bool) async throws -> EvidenceMaterial?

    /// Audits an export (stage `dispute`, outcome `ok`, detail `evidence exported`) with the bundle's digest, naming the
    /// flow's client and resource from its events, or from `archived` when the store has none (its events archived).
    func recordEvidenceExport(correlationId: String, disputeId: String?, bundleSHA256: String, actor: String, nowMillis: Int64,
                              archived: FlowIdentity?) async throws
}

extension SupportStore {
    /// `recordEvidenceExport` of a flow the store has events of.
    public func recordEvidenceExport(correlationId: String, disputeId: String?, bundleSHA256: String, actor: String, nowMillis: Int64) async throws {
        try await recordEvidenceExport(correlationId: correlationId, disputeId: disputeId, bundleSHA256: bundleSHA256, actor: actor,
                                       nowMillis: nowMillis, archived: nil)
    }

    /// `evidenceMaterial` of a flow the store has events of.
    public func evidenceMaterial(correlationId: String) async throws -> EvidenceMaterial? {
        try await evidenceMaterial(correlationId: correlationId, withoutEvents: false)
    }

    /// `openDispute` of a flow the store has events of.
    public func openDispute(correlationId: String, reason: String, actor: String, nowMillis: Int64) async throws -> DisputeRecord {
        try await openDispute(correlationId: correlationId, reason: reason, actor: actor, nowMillis: nowMillis, archived: nil)
    }
}

/// Whose a flow is: the client and resource its first events name (each from the first event naming one).
public struct FlowIdentity: Sendable, Hashable {
    public var client: String?
    public var resource: String?

    public init(client: String?, resource: String?) {
        self.client = client
        self.resource = resource
    }

    /// From a flow's events in seq order; nil when there are none.
    public init?(_ events: [RecordedAuditEvent]) {
        guard !events.isEmpty else { return nil }
        self.init(client: events.lazy.compactMap(\.event.clientId).first, resource: events.lazy.compactMap(\.event.resource).first)
    }
}
