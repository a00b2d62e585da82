import TollgateCore

/// Support lookups: flows by key, disputes and evidence.
extension InMemoryStore {
    public func flows(matching key: TraceKey, limit: Int) async throws -> TraceMatch {
        // (correlation id, field, source) for every hit, the sources named like the SQLite tables.
        var hits: [(String, String, String)] = []
        func detail(_ name: String, _ value: String) -> [(String, String, String)] {
            recorded.filter { $0.event.details[name]?.lowercased() == value }.map { ($0.event.correlationId, name, "audit_event") }
        }
        switch key {
        case .correlationId(let id):
            if recorded.contains(where: { $0.event.correlationId == id }) { hits.append((id, "correlation id", "audit_event")) }
        case .payer(let payer):
            hits += payments.filter { $0.payer.lowercased() == payer }.map { ($0.correlationId, "payer", "payment") }
            hits += proofs.filter { $0.payer == payer }.map { (proofFlows[$0.id] ?? "", "payer", "proof_evidence") }
            hits += detail("payer", payer)
        case .hash(let value):
            hits += payments.filter { $0.transaction.lowercased() == value }.map { ($0.correlationId, "transaction", "payment") }
            hits += detail("transaction", value)
            hits += payments.filter { $0.nonce == value }.map { ($0.correlationId, "nonce", "payment") }
            hits += proofs.filter { $0.nonce == value }.map { (proofFlows[$0.id] ?? "", "nonce", "proof_evidence") }
            hits += detail("nonce", value)
        }
        var matchedAs: [String: Set<String>] = [:]
        for hit in hits { matchedAs[hit.1, default: []].insert(hit.2) }
        let last = { (id: String) in self.recorded.filter { $0.event.correlationId == id }.map(\.event.timeMillis).max() ?? 0 }
        let ids = Set(hits.map(\.0)).sorted { (last($0), $1) > (last($1), $0) }
        return TraceMatch(key: key, matchedAs: matchedAs.mapValues { $0.sorted() }, correlationIds: Array(ids.prefix(max(limit, 1))), total: ids.count)
    }

    public func openDispute(correlationId: String, reason: String, actor: String, nowMillis: Int64, archived: FlowIdentity?) async throws -> DisputeRecord {
        let reason = try DisputeRecord.validated(reason, field: "reason")
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        guard let flow = flowIdentity(correlationId) ?? archived.map({ ($0.client, $0.resource) }) else { throw TollgateError(.unknownFlow, "no audit event carries the correlation id \(correlationId)") }
        if let open = disputeRecords.first(where: { $0.correlationId == correlationId && $0.state == .open }) {
            throw TollgateError(.disputeAlreadyOpen, "flow \(correlationId) already has an open dispute: \(open.id)", disputeId: open.id)
        }
        let record = DisputeRecord(id: DisputeRecord.makeId(), correlationId: correlationId, reason: reason, actor: actor, state: .open,
                                   openedAtMillis: nowMillis)
        disputeRecords.append(record)
        write([DisputeEvent.make(DisputeEvent.opened, outcome: .received, correlationId: correlationId, timeMillis: nowMillis, clientId: flow.client,
                                 resource: flow.resource, details: ["dispute_id": record.id, "reason": reason, "actor": actor])])
        return record
    }

    public func closeDispute(id: String, resolution: String, actor: String, nowMillis: Int64) async throws -> DisputeRecord {
        let resolution = try DisputeRecord.validated(resolution, field: "resolution")
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        guard let index = disputeRecords.firstIndex(where: { $0.id == id }) else { throw TollgateError(.unknownDispute, "no dispute has the id \(id)") }
        guard disputeRecords[index].state == .open else { throw TollgateError(.disputeNotOpen, "dispute \(id) was closed already", disputeId: id) }
        disputeRecords[index].state = .closed
        disputeRecords[index].closedAtMillis = nowMillis
        disputeRecords[index].closedBy = actor
        disputeRecords[index].resolution = resolution
        let record = disputeRecords[index]
        let flow = flowIdentity(record.correlationId)
        write([DisputeEvent.make(DisputeEvent.closed, outcome: .ok, correlationId: record.correlationId, timeMillis: nowMillis, clientId: flow?.client,
                                 resource: flow?.resource, details: ["dispute_id": id, "resolution": resolution, "actor": actor])])
        return record
    }

    public func disputes(state: DisputeRecord.State?, limit: Int) async throws -> [DisputeRecord] {
        Array(disputeRecords.filter { state == nil || $0.state == state }.sorted { ($0.openedAtMillis, $1.id) > ($1.openedAtMillis, $0.id) }
            .prefix(max(limit, 1)))
    }

    public func dispute(id: String) async throws -> DisputeRecord? { disputeRecords.first { $0.id == id } }

    public func disputes(correlationId: String) async throws -> [DisputeRecord] {
        disputeRecords.filter { $0.correlationId == correlationId }.sorted { ($0.openedAtMillis, $1.id) > ($1.openedAtMillis, $0.id) }
    }

    public func evidenceMaterial(correlationId: String, withoutEvents: Bool) async throws -> EvidenceMaterial? {
        let events = loggedEvents(correlationId)
        guard !events.isEmpty || withoutEvents else { return nil }
        let linked = FlowLink.links(in: events.map(\.record)).map { EvidenceMaterial.LinkedFlow(link: $0, events: loggedEvents($0.correlationId)) }
        return EvidenceMaterial(correlationId: correlationId, events: events, linked: linked,
                                proofs: proofs.filter { proofFlows[$0.id] == correlationId }, payments: payments(correlationId: correlationId),
                                refunds: refundsRecorded.filter { $0.correlationId == correlationId },
                                chainHead: recorded.last.map { .init(seq: $0.seq, hash: $0.hash) })
    }

    public func recordEvidenceExport(correlationId: String, disputeId: String?, bundleSHA256: String, actor: String, nowMillis: Int64,
                                     archived: FlowIdentity?) async throws {
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        let flow = flowIdentity(correlationId) ?? archived.map { ($0.client, $0.resource) }
        var details = ["detail": "evidence exported", "bundle_sha256": bundleSHA256, "actor": actor]
        details["dispute_id"] = disputeId
        write([DisputeEvent.make(DisputeEvent.evidenceExported, outcome: .ok, correlationId: correlationId, timeMillis: nowMillis,
                                 clientId: flow?.client, resource: flow?.resource, details: details)])
    }

    func flowIdentity(_ correlationId: String) -> (client: String?, resource: String?)? {
        let events = recorded.filter { $0.event.correlationId == correlationId }
        guard !events.isEmpty else { return nil }
        return (events.lazy.compactMap(\.event.clientId).first, events.lazy.compactMap(\.event.resource).first)
    }

    /// A flow's events by seq, each with the hash of the event before it in the whole log (or of the archived range's end).
    func loggedEvents(_ correlationId: String) -> [EvidenceMaterial.LoggedEvent] {
        recorded.filter { $0.event.correlationId == correlationId }.map { record in
            let before = recorded.last { $0.seq < record.seq }?.hash ?? archives.last { $0.lastSeq < record.seq }?.lastHash ?? AuditChain.genesis
            let after = recorded.first { $0.seq > record.seq }.map { EvidenceMaterial.LoggedEvent.Following(seq: $0.seq, previousHash: $0.previousHash) }
            return EvidenceMaterial.LoggedEvent(record: record, precedingHash: before, following: after)
        }
    }
}
