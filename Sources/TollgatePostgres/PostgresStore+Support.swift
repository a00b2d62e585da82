import PostgresNIO
import TollgateCore

extension PostgresStore {
    // MARK: finding flows

    public func flows(matching key: TraceKey, limit: Int) async throws -> TraceMatch {
        try await database.read(snapshot: true) { tx in
            var matchedAs: [String: [String]] = [:]
            for row in try await tx.rows("WITH hits(cid, field, source) AS (\(hitsOf: key)) SELECT DISTINCT field, source FROM hits") {
                matchedAs[try row.get("field"), default: []].append(try row.get("source"))
            }
            var total = 0
            var ids: [String] = []
            for row in try await tx.rows("""
                WITH hits(cid, field, source) AS (\(hitsOf: key)),
                     flows(cid, last) AS (SELECT cid, (SELECT max(time_ms) FROM audit_event a WHERE a.correlation_id = hits.cid)
                                          FROM hits GROUP BY cid)
                SELECT cid, count(*) OVER () AS total FROM flows ORDER BY coalesce(last, 0) DESC, cid LIMIT \(max(limit, 1))
                """) {
                total = Int(try row.get("total", as: Int64.self))
                ids.append(try row.get("cid"))
            }
            return TraceMatch(key: key, matchedAs: matchedAs.mapValues { $0.sorted() }, correlationIds: ids, total: total)
        }
    }

    // MARK: disputes

    public func openDispute(correlationId: String, reason: String, actor: String, nowMillis: Int64, archived: FlowIdentity?) async throws -> DisputeRecord {
        let reason = try DisputeRecord.validated(reason, field: "reason")
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        let keys = auditKeys
        return try await database.write { tx in
            guard let flow = try await Self.flowIdentity(correlationId, tx) ?? archived.map({ ($0.client, $0.resource) }) else {
                throw TollgateError(.unknownFlow, "no audit event carries the correlation id \(correlationId)")
            }
            if let open = try await tx.value("SELECT id FROM dispute WHERE correlation_id = \(correlationId) AND state = 'open'", as: String.self) {
                throw TollgateError(.disputeAlreadyOpen, "flow \(correlationId) already has an open dispute: \(open)", disputeId: open)
            }
            let record = DisputeRecord(id: DisputeRecord.makeId(), correlationId: correlationId, reason: reason, actor: actor, state: .open,
                                       openedAtMillis: nowMillis)
            try await tx.execute("""
                INSERT INTO dispute (id, correlation_id, reason, actor, state, opened_at) VALUES (\(record.id), \(correlationId), \(reason), \(actor), 'open', \(nowMillis))
                """)
            try await Self.append([DisputeEvent.make(DisputeEvent.opened, outcome: .received, correlationId: correlationId, timeMillis: nowMillis,
                                                     clientId: flow.client, resource: flow.resource,
                                                     details: ["dispute_id": record.id, "reason": reason, "actor": actor])], tx, keys: keys)
            return record
        }
    }

    public func closeDispute(id: String, resolution: String, actor: String, nowMillis: Int64) async throws -> DisputeRecord {
        let resolution = try DisputeRecord.validated(resolution, field: "resolution")
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        let keys = auditKeys
        return try await database.write { tx in
            guard var record = try await tx.row("SELECT * FROM dispute WHERE id = \(id)").map(Self.dispute) else {
                throw TollgateError(.unknownDispute, "no dispute has the id \(id)")
            }
            guard record.state == .open else {
                throw TollgateError(.disputeNotOpen, "dispute \(id) was closed already", disputeId: id)
            }
            try await tx.execute("""
                UPDATE dispute SET state = 'closed', closed_at = \(nowMillis), closed_by = \(actor), resolution = \(resolution) WHERE id = \(id)
                """)
            record.state = .closed
            record.closedAtMillis = nowMillis
            record.closedBy = actor
            record.resolution = resolution
            let flow = try await Self.flowIdentity(record.correlationId, tx)
            try await Self.append([DisputeEvent.make(DisputeEvent.closed, outcome: .ok, correlationId: record.correlationId, timeMillis: nowMillis,
                                                     clientId: flow?.client, resource: flow?.resource,
                                                     details: ["dispute_id": id, "resolution": resolution, "actor": actor])], tx, keys: keys)
            return record
        }
    }

    public func disputes(state: DisputeRecord.State?, limit: Int) async throws -> [DisputeRecord] {
        try await database.read { tx in
            try await tx.rows("""
                SELECT * FROM dispute WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
                ORDER BY opened_at DESC, id LIMIT \(max(limit, 1))
                """).map(Self.dispute)
        }
    }

    public func dispute(id: String) async throws -> DisputeRecord? {
        try await database.read { tx in try await tx.row("SELECT * FROM dispute WHERE id = \(id)").map(Self.dispute) }
    }

    public func disputes(correlationId: String) async throws -> [DisputeRecord] {
        try await database.read { tx in
            try await tx.rows("SELECT * FROM dispute WHERE correlation_id = \(correlationId) ORDER BY opened_at DESC, id").map(Self.dispute)
        }
    }

    static func dispute(_ row: PostgresRandomAccessRow) throws -> DisputeRecord {
        DisputeRecord(id: try row.get("id"), correlationId: try row.get("correlation_id"), reason: try row.get("reason"), actor: try row.get("actor"),
                      state: DisputeRecord.State(rawValue: try row.get("state")) ?? .open, openedAtMillis: try row.get("opened_at"),
                      closedAtMillis: try row.get("closed_at"), closedBy: try row.get("closed_by"), resolution: try row.get("resolution"))
    }

    /// The client and resource of a flow (from its first event that names them); nil when the flow has no events.
    static func flowIdentity(_ correlationId: String, _ tx: PostgresTransaction) async throws -> (client: String?, resource: String?)? {
        try await flushAudit(tx)
        let rows = try await tx.rows("SELECT client_id, resource FROM audit_event WHERE correlation_id = \(correlationId) ORDER BY seq")
        guard !rows.isEmpty else { return nil }
        return (try rows.lazy.compactMap { try $0.get("client_id", as: String?.self) }.first,
                try rows.lazy.compactMap { try $0.get("resource", as: String?.self) }.first)
    }

    // MARK: evidence

    public func evidenceMaterial(correlationId: String, withoutEvents: Bool) async throws -> EvidenceMaterial? {
        try await database.read(snapshot: true) { tx in
            let events = try await Self.loggedEvents(correlationId, tx)
            guard !events.isEmpty || withoutEvents else { return nil }
            var linked: [EvidenceMaterial.LinkedFlow] = []
            for link in FlowLink.links(in: events.map(\.record)) {
                linked.append(EvidenceMaterial.LinkedFlow(link: link, events: try await Self.loggedEvents(link.correlationId, tx)))
            }
            let proofs = try await tx.rows("SELECT * FROM proof_evidence WHERE correlation_id = \(correlationId) ORDER BY id").map { row in
                EvidenceMaterial.Proof(id: try row.get("id"), network: try row.get("network"), asset: try row.get("asset"), payer: try row.get("payer"),
                                       nonce: try row.get("nonce"), offerToken: try row.get("offer_token"), payload: try row.get("payload"),
                                       receivedAtMillis: try row.get("received_at"))
            }
            let payments = try await tx.rows("SELECT * FROM payment WHERE correlation_id = \(correlationId) ORDER BY id").map(Self.payment)
            let head = try await tx.row("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
                .map { EvidenceMaterial.ChainHead(seq: try $0.get("seq"), hash: try $0.get("hash")) }
            let refunds = try await tx.rows("SELECT * FROM refund WHERE correlation_id = \(correlationId) ORDER BY created_at, id").map(Self.refundRecord)
            return EvidenceMaterial(correlationId: correlationId, events: events, linked: linked, proofs: proofs, payments: payments,
                                    refunds: refunds, chainHead: head)
        }
    }

    public func recordEvidenceExport(correlationId: String, disputeId: String?, bundleSHA256: String, actor: String,
                                     nowMillis: Int64, archived: FlowIdentity?) async throws {
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        let keys = auditKeys
        try await database.write { tx in
            let flow = try await Self.flowIdentity(correlationId, tx) ?? archived.map { ($0.client, $0.resource) }
            var details = ["detail": "evidence exported", "bundle_sha256": bundleSHA256, "actor": actor]
            details["dispute_id"] = disputeId
            try await Self.append([DisputeEvent.make(DisputeEvent.evidenceExported, outcome: .ok, correlationId: correlationId, timeMillis: nowMillis,
                                                     clientId: flow?.client, resource: flow?.resource, details: details)], tx, keys: keys)
        }
    }

    /// A flow's events by seq, each with the hash stored on the row before it in the whole log; when that row was
    /// archived, the hash the archived range ends with.
    static func loggedEvents(_ correlationId: String, _ tx: PostgresTransaction) async throws -> [EvidenceMaterial.LoggedEvent] {
        var logged: [EvidenceMaterial.LoggedEvent] = []
        for row in try await tx.rows("SELECT * FROM audit_event WHERE correlation_id = \(correlationId) ORDER BY seq") {
            let record = try recorded(row)
            let before = try await tx.value("""
                SELECT hash FROM (
                    (SELECT seq, hash FROM audit_event WHERE seq < \(record.seq) ORDER BY seq DESC LIMIT 1)
                    UNION ALL (SELECT last_seq, last_hash FROM audit_archive WHERE last_seq < \(record.seq) ORDER BY last_seq DESC LIMIT 1)
                ) AS preceding ORDER BY seq DESC LIMIT 1
                """, as: String.self) ?? AuditChain.genesis
            let after = try await tx.row("SELECT seq, prev_hash FROM audit_event WHERE seq > \(record.seq) ORDER BY seq LIMIT 1")
            let following = try after.map { EvidenceMaterial.LoggedEvent.Following(seq: try $0.get("seq"), previousHash: try $0.get("prev_hash")) }
            logged.append(EvidenceMaterial.LoggedEvent(record: record, precedingHash: before, following: following))
        }
        return logged
    }
}

extension PostgresQuery.StringInterpolation {
    /// The union of (correlation id, field, table) a trace key matches, its values bound. Audit events are matched on
    /// their lookup columns (`AuditEvent.lookupKeys`, lowercased like the key).
    mutating func appendInterpolation(hitsOf key: TraceKey) {
        switch key {
        case .correlationId(let id):
            appendLiteral("SELECT correlation_id, 'correlation id', 'audit_event' FROM audit_event WHERE correlation_id = ")
            appendInterpolation(id)
            appendLiteral(" LIMIT 1")
        case .payer(let payer):
            appendLiteral("SELECT correlation_id, 'payer', 'payment' FROM payment WHERE lower(payer) = ")
            appendInterpolation(payer)
            appendLiteral(" UNION ALL SELECT correlation_id, 'payer', 'proof_evidence' FROM proof_evidence WHERE payer = ")
            appendInterpolation(payer)
            appendLiteral(" UNION ALL SELECT correlation_id, 'payer', 'audit_event' FROM audit_event WHERE payer = ")
            appendInterpolation(payer)
        case .hash(let value):
            appendLiteral("SELECT correlation_id, 'transaction', 'payment' FROM payment WHERE lower(tx) = ")
            appendInterpolation(value)
            appendLiteral(" UNION ALL SELECT correlation_id, 'transaction', 'audit_event' FROM audit_event ")
            appendLiteral("WHERE tx = ")
            appendInterpolation(value)
            appendLiteral(" UNION ALL SELECT correlation_id, 'nonce', 'payment' FROM payment WHERE nonce = ")
            appendInterpolation(value)
            appendLiteral(" UNION ALL SELECT correlation_id, 'nonce', 'proof_evidence' FROM proof_evidence WHERE nonce = ")
            appendInterpolation(value)
            appendLiteral(" UNION ALL SELECT correlation_id, 'nonce', 'audit_event' FROM audit_event WHERE nonce = ")
            appendInterpolation(value)
        }
    }
}
