import Foundation
import GRDB
import TollgateCore

extension SQLiteStore {
    /// Disputes, and indexes so that support can find flows by payer, nonce or transaction without a scan.
    /// The audit indexes made here were on expressions over the details JSON; `migrateAuditLookupColumns` (v11)
    /// replaced them with columns.
    static func migrateSupport(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE dispute (
                id TEXT PRIMARY KEY NOT NULL, correlation_id TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('open', 'closed')), opened_at INTEGER NOT NULL,
                closed_at INTEGER, closed_by TEXT, resolution TEXT
            );
            CREATE UNIQUE INDEX dispute_open ON dispute (correlation_id) WHERE state = 'open';
            CREATE INDEX dispute_correlation ON dispute (correlation_id, opened_at);
            CREATE INDEX dispute_state ON dispute (state, opened_at);
            CREATE INDEX proof_evidence_payer ON proof_evidence (payer);
            CREATE INDEX audit_event_payer ON audit_event (lower(json_extract(details, '$.payer')));
            CREATE INDEX audit_event_nonce ON audit_event (lower(json_extract(details, '$.nonce')));
            CREATE INDEX audit_event_transaction ON audit_event (lower(json_extract(details, '$.transaction')));
            """)
    }

    /// The payer, nonce and transaction of an audit event in columns of their own (`AuditEvent.lookupKeys`), each
    /// indexed only where set: the expression indexes parsed every event's JSON three times on insert and added
    /// three index entries per event, though one event in eleven names any of them.
    static func migrateAuditLookupColumns(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE audit_event ADD COLUMN payer TEXT;
            ALTER TABLE audit_event ADD COLUMN nonce TEXT;
            ALTER TABLE audit_event ADD COLUMN tx TEXT;
            UPDATE audit_event SET payer = lower(json_extract(details, '$.payer')), nonce = lower(json_extract(details, '$.nonce')),
                                   tx = lower(json_extract(details, '$.transaction'))
                WHERE json_extract(details, '$.payer') IS NOT NULL OR json_extract(details, '$.nonce') IS NOT NULL
                   OR json_extract(details, '$.transaction') IS NOT NULL;
            DROP INDEX audit_event_payer;
            DROP INDEX audit_event_nonce;
            DROP INDEX audit_event_transaction;
            CREATE INDEX audit_event_payer ON audit_event (payer) WHERE payer IS NOT NULL;
            CREATE INDEX audit_event_nonce ON audit_event (nonce) WHERE nonce IS NOT NULL;
            CREATE INDEX audit_event_transaction ON audit_event (tx) WHERE tx IS NOT NULL;
            """)
    }

    // MARK: finding flows

    public func flows(matching key: TraceKey, limit: Int) async throws -> TraceMatch {
        let (hits, arguments) = Self.hits(key)
        return try await writer.read { db in
            var matchedAs: [String: [String]] = [:]
            for row in try Row.fetchAll(db, sql: "WITH hits(cid, field, source) AS (\(hits)) SELECT DISTINCT field, source FROM hits",
                                        arguments: arguments) {
                matchedAs[row["field"], default: []].append(row["source"])
            }
            var total = 0
            var ids: [String] = []
            let rows = try Row.fetchAll(db, sql: """
                WITH hits(cid, field, source) AS (\(hits)),
                     flows(cid, last) AS (SELECT cid, (SELECT max(time_ms) FROM audit_event a WHERE a.correlation_id = hits.cid)
                                          FROM hits GROUP BY cid)
                SELECT cid, count(*) OVER () AS total FROM flows ORDER BY coalesce(last, 0) DESC, cid LIMIT :limit
                """, arguments: arguments + ["limit": max(limit, 1)])
            for row in rows {
                total = row["total"]
                ids.append(row["cid"])
            }
            return TraceMatch(key: key, matchedAs: matchedAs.mapValues { $0.sorted() }, correlationIds: ids, total: total)
        }
    }

    /// The union of (correlation id, field, table) the key matches, and its arguments.
    static func hits(_ key: TraceKey) -> (String, StatementArguments) {
        switch key {
        case .correlationId(let id):
            return ("SELECT correlation_id, 'correlation id', 'audit_event' FROM audit_event WHERE correlation_id = :k LIMIT 1", ["k": id])
        case .payer(let payer):
            // The ledger folds the payer's case, the evidence matches it as written (`k.payer = lower(k.payer)`, which
            // keeps the search on `proof_key_payer`; `k.payer = :k` would not).
            return ("""
                SELECT p.correlation_id, 'payer', 'payment' FROM proof_key k JOIN payment p ON p.proof_key_id = k.id WHERE lower(k.payer) = :k
                UNION ALL SELECT e.correlation_id, 'payer', 'proof_evidence' FROM proof_key k JOIN proof_evidence e ON e.proof_key_id = k.id
                    WHERE lower(k.payer) = :k AND k.payer = lower(k.payer)
                UNION ALL SELECT correlation_id, 'payer', 'audit_event' FROM audit_event WHERE payer = :k
                UNION ALL SELECT a.correlation_id, 'payer', 'audit_event' FROM proof_key k JOIN proof_evidence e ON e.proof_key_id = k.id
                    JOIN audit_event a ON a.correlation_id = e.correlation_id
                    WHERE lower(k.payer) = :k AND k.payer = lower(k.payer) AND a.payer IS NULL AND lower(json_extract(a.details, '$.payer')) = :k
                """, ["k": payer])
        case .hash(let value):
            return ("""
                SELECT correlation_id, 'transaction', 'payment' FROM payment WHERE lower(tx) = :k
                UNION ALL SELECT correlation_id, 'transaction', 'audit_event' FROM audit_event WHERE tx = :k
                UNION ALL SELECT a.correlation_id, 'transaction', 'audit_event' FROM payment p JOIN audit_event a ON a.correlation_id = p.correlation_id
                    WHERE lower(p.tx) = :k AND a.tx IS NULL AND lower(json_extract(a.details, '$.transaction')) = :k
                UNION ALL SELECT p.correlation_id, 'nonce', 'payment' FROM proof_key k JOIN payment p ON p.proof_key_id = k.id WHERE k.nonce = :k
                UNION ALL SELECT e.correlation_id, 'nonce', 'proof_evidence' FROM proof_key k JOIN proof_evidence e ON e.proof_key_id = k.id
                    WHERE k.nonce = :k
                UNION ALL SELECT correlation_id, 'nonce', 'audit_event' FROM audit_event WHERE nonce = :k
                UNION ALL SELECT a.correlation_id, 'nonce', 'audit_event' FROM proof_key k JOIN proof_evidence e ON e.proof_key_id = k.id
                    JOIN audit_event a ON a.correlation_id = e.correlation_id
                    WHERE k.nonce = :k AND a.nonce IS NULL AND lower(json_extract(a.details, '$.nonce')) = :k
                """, ["k": value])
        }
    }

    // MARK: disputes

    public func openDispute(correlationId: String, reason: String, actor: String, nowMillis: Int64, archived: FlowIdentity?) async throws -> DisputeRecord {
        let reason = try DisputeRecord.validated(reason, field: "reason")
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        return try await write { db in
            guard let flow = try Self.flowIdentity(correlationId, db) ?? archived.map({ ($0.client, $0.resource) }) else {
                throw TollgateError(.unknownFlow, "no audit event carries the correlation id \(correlationId)")
            }
            if let open = try String.fetchOne(db, sql: "SELECT id FROM dispute WHERE correlation_id = ? AND state = 'open'",
                                              arguments: [correlationId]) {
                throw TollgateError(.disputeAlreadyOpen, "flow \(correlationId) already has an open dispute: \(open)", disputeId: open)
            }
            let record = DisputeRecord(id: DisputeRecord.makeId(), correlationId: correlationId, reason: reason, actor: actor, state: .open,
                                       openedAtMillis: nowMillis)
            try db.execute(sql: "INSERT INTO dispute (id, correlation_id, reason, actor, state, opened_at) VALUES (?, ?, ?, ?, 'open', ?)",
                           arguments: [record.id, correlationId, reason, actor, nowMillis])
            try Self.append([DisputeEvent.make(DisputeEvent.opened, outcome: .received, correlationId: correlationId, timeMillis: nowMillis,
                                               clientId: flow.client, resource: flow.resource,
                                               details: ["dispute_id": record.id, "reason": reason, "actor": actor])], db, keys: auditKeys)
            return record
        }
    }

    public func closeDispute(id: String, resolution: String, actor: String, nowMillis: Int64) async throws -> DisputeRecord {
        let resolution = try DisputeRecord.validated(resolution, field: "resolution")
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        return try await write { db in
            guard var record = try Self.dispute(id: id, db) else {
                throw TollgateError(.unknownDispute, "no dispute has the id \(id)")
            }
            guard record.state == .open else {
                throw TollgateError(.disputeNotOpen, "dispute \(id) was closed already", disputeId: id)
            }
            try db.execute(sql: "UPDATE dispute SET state = 'closed', closed_at = ?, closed_by = ?, resolution = ? WHERE id = ?",
                           arguments: [nowMillis, actor, resolution, id])
            record.state = .closed
            record.closedAtMillis = nowMillis
            record.closedBy = actor
            record.resolution = resolution
            let flow = try Self.flowIdentity(record.correlationId, db)
            try Self.append([DisputeEvent.make(DisputeEvent.closed, outcome: .ok, correlationId: record.correlationId, timeMillis: nowMillis,
                                               clientId: flow?.client, resource: flow?.resource,
                                               details: ["dispute_id": id, "resolution": resolution, "actor": actor])], db, keys: auditKeys)
            return record
        }
    }

    public func disputes(state: DisputeRecord.State?, limit: Int) async throws -> [DisputeRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM dispute WHERE (:state IS NULL OR state = :state) ORDER BY opened_at DESC, id LIMIT :limit
                """, arguments: ["state": state?.rawValue, "limit": max(limit, 1)]).map(Self.dispute)
        }
    }

    public func dispute(id: String) async throws -> DisputeRecord? {
        try await writer.read { db in try Self.dispute(id: id, db) }
    }

    static func dispute(id: String, _ db: Database) throws -> DisputeRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM dispute WHERE id = ?", arguments: [id]).map(Self.dispute)
    }

    public func disputes(correlationId: String) async throws -> [DisputeRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM dispute WHERE correlation_id = ? ORDER BY opened_at DESC, id", arguments: [correlationId])
                .map(Self.dispute)
        }
    }

    static func dispute(_ row: Row) -> DisputeRecord {
        DisputeRecord(id: row["id"], correlationId: row["correlation_id"], reason: row["reason"], actor: row["actor"],
                      state: DisputeRecord.State(rawValue: row["state"]) ?? .open, openedAtMillis: row["opened_at"],
                      closedAtMillis: row["closed_at"], closedBy: row["closed_by"], resolution: row["resolution"])
    }

    /// The client and resource of a flow (from its first event that names them); nil when the flow has no events.
    static func flowIdentity(_ correlationId: String, _ db: Database) throws -> (client: String?, resource: String?)? {
        let rows = try Row.fetchAll(db, sql: "SELECT client_id, resource FROM audit_event WHERE correlation_id = ? ORDER BY seq",
                                    arguments: [correlationId])
        guard !rows.isEmpty else { return nil }
        return (rows.lazy.compactMap { $0["client_id"] as String? }.first, rows.lazy.compactMap { $0["resource"] as String? }.first)
    }

    // MARK: evidence

    public func evidenceMaterial(correlationId: String, withoutEvents: Bool) async throws -> EvidenceMaterial? {
        try await writer.read { db in
            let events = try Self.loggedEvents(correlationId, db)
            guard !events.isEmpty || withoutEvents else { return nil }
            let linked = try FlowLink.links(in: events.map(\.record)).map { link in
                EvidenceMaterial.LinkedFlow(link: link, events: try Self.loggedEvents(link.correlationId, db))
            }
            let proofs = try Row.fetchAll(db, sql: "SELECT * FROM proof_evidence WHERE correlation_id = ? ORDER BY id", arguments: [correlationId])
                .map { row in
                    EvidenceMaterial.Proof(id: row["id"], network: row["network"], asset: row["asset"], payer: row["payer"], nonce: row["nonce"],
                                           offerToken: row["offer_token"], payload: row["payload"], receivedAtMillis: row["received_at"])
                }
            let payments = try Row.fetchAll(db, sql: "SELECT * FROM payment WHERE correlation_id = ? ORDER BY id", arguments: [correlationId])
                .map(Self.payment)
            let head = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
                .map { EvidenceMaterial.ChainHead(seq: $0["seq"], hash: $0["hash"]) }
            return EvidenceMaterial(correlationId: correlationId, events: events, linked: linked, proofs: proofs, payments: payments,
                                    refunds: try Row.fetchAll(db, sql: "SELECT * FROM refund WHERE correlation_id = ? ORDER BY created_at, id",
                                                              arguments: [correlationId]).map(Self.refundRecord), chainHead: head)
        }
    }

    public func recordEvidenceExport(correlationId: String, disputeId: String?, bundleSHA256: String, actor: String,
                                     nowMillis: Int64, archived: FlowIdentity?) async throws {
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        try await write { db in
            let flow = try Self.flowIdentity(correlationId, db) ?? archived.map { ($0.client, $0.resource) }
            var details = ["detail": "evidence exported", "bundle_sha256": bundleSHA256, "actor": actor]
            details["dispute_id"] = disputeId
            try Self.append([DisputeEvent.make(DisputeEvent.evidenceExported, outcome: .ok, correlationId: correlationId, timeMillis: nowMillis,
                                               clientId: flow?.client, resource: flow?.resource, details: details)], db, keys: auditKeys)
        }
    }

    /// A flow's events by seq, each with the hash stored on the row before it in the whole log; when that
    /// row was archived, the hash the archived range ends with.
    static func loggedEvents(_ correlationId: String, _ db: Database) throws -> [EvidenceMaterial.LoggedEvent] {
        let archived = try db.tableExists("audit_archive")
        let preceding = try db.cachedStatement(sql: archived ? """
            SELECT hash FROM (
                SELECT * FROM (SELECT seq, hash FROM audit_event WHERE seq < ?1 ORDER BY seq DESC LIMIT 1)
                UNION ALL SELECT * FROM (SELECT last_seq, last_hash FROM audit_archive WHERE last_seq < ?1 ORDER BY last_seq DESC LIMIT 1)
            ) ORDER BY seq DESC LIMIT 1
            """ : "SELECT hash FROM audit_event WHERE seq < ?1 ORDER BY seq DESC LIMIT 1")
        let following = try db.cachedStatement(sql: "SELECT seq, prev_hash FROM audit_event WHERE seq > ? ORDER BY seq LIMIT 1")
        return try Row.fetchAll(db, sql: "SELECT * FROM audit_event WHERE correlation_id = ? ORDER BY seq", arguments: [correlationId])
            .map { row in
                let record = Self.recorded(row)
                let before = try String.fetchOne(preceding, arguments: [record.seq]) ?? AuditChain.genesis
                let after = try Row.fetchOne(following, arguments: [record.seq]).map { EvidenceMaterial.LoggedEvent.Following(seq: $0["seq"], previousHash: $0["prev_hash"]) }
                return EvidenceMaterial.LoggedEvent(record: record, precedingHash: before, following: after)
            }
    }

    static func payment(_ row: Row) -> PaymentRecord {
        PaymentRecord(correlationId: row["correlation_id"], rail: row["rail"], network: row["network"], asset: row["asset"],
                      payer: row["payer"], payee: row["payee"], amount: row["amount"], nonce: row["nonce"], transaction: row["tx"],
                      clientId: row["client_id"], resource: row["resource"], unit: row["unit"], quantity: row["quantity"],
                      settledAtMillis: row["settled_at"], bodySHA256: row["body_sha256"])
    }
}
