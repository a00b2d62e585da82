import Foundation
import GRDB
import TollgateCore

extension SQLiteStore {
    public func recordSettlementIntent(_ intent: SettlementIntent, events: [AuditEvent]) async throws {
        // The documents are written before the write, off the one writer.
        var stored = intent
        stored.response = nil
        let json = String(decoding: JSONWriter.bytes(stored, capacity: 4096), as: UTF8.self)
        let events = events.map(AuditChain.Prepared.init)
        try await write { db in
            let key = intent.key
            // The intent's row, then its document (`settlement_intent_body`, `migrateSettlementIntentBody`); a later attempt
            // replaces the document. The id is read back by key (`RETURNING` needs SQLite 3.35).
            let proofKey = try Self.flowProofKeyId(key, db)
            try db.runRaw(sql: """
                INSERT INTO settlement_intent (proof_key_id, network, asset, payer, nonce, correlation_id, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (proof_key_id) DO UPDATE SET updated_at = excluded.updated_at
                """, proofKey, key.network, key.asset, key.payer, key.nonce, intent.correlationId, intent.createdAtMillis, clock.nowMillis())
            guard let id = try db.firstRaw(sql: "SELECT id FROM settlement_intent WHERE proof_key_id = ?",
                                           proofKey, read: { RawStatement.int64($0, 0) })
            else { throw TollgateError(.storeUnavailable, "the settlement intent of \(key) was not recorded") }
            try db.runRaw(sql: """
                INSERT INTO settlement_intent_body (intent_id, intent) VALUES (?, ?)
                ON CONFLICT (intent_id) DO UPDATE SET intent = excluded.intent
                """, id, json)
            if let response = intent.response { try Self.storeResponse(response, key: key, proofKeyId: proofKey, ready: false, db) }
            try db.runRaw(sql: "UPDATE reservation SET state = 'settling', updated_at = ? WHERE proof_key_id = ?", clock.nowMillis(), proofKey)
            try Self.append(events, db, keys: auditKeys)
        }
    }

    public func openSettlement(_ key: ProofKey) async throws -> OpenSettlement? {
        try await writer.read { db in
            guard let row = try Row.fetchOne(cached: db, sql: """
                SELECT i.*, b.intent, r.state FROM settlement_intent i JOIN settlement_intent_body b ON b.intent_id = i.id
                  LEFT JOIN reservation r ON r.proof_key_id = i.proof_key_id
                WHERE i.\(Self.byProofKey)
                """, arguments: [key.network, key.asset, key.payer, key.nonce]) else { return nil }
            return try Self.openSettlement(row, db)
        }
    }

    public func unresolvedSettlements(after: SettlementCursor?, limit: Int) async throws -> [OpenSettlement] {
        try await settlements(where: "(i.outcome = 'open' OR (i.outcome = 'settled' AND i.delivered = 0))", after: after, limit: limit)
    }

    public func settlementsForReview(limit: Int) async throws -> [OpenSettlement] {
        try await settlements(where: "i.outcome = 'review'", after: nil, limit: limit)
    }

    private func settlements(where condition: String, after: SettlementCursor?, limit: Int) async throws -> [OpenSettlement] {
        try await writer.read { db in
            try Row.fetchAll(cached: db, sql: """
                SELECT i.*, b.intent, r.state FROM settlement_intent i JOIN settlement_intent_body b ON b.intent_id = i.id
                  LEFT JOIN reservation r ON r.proof_key_id = i.proof_key_id
                WHERE \(condition) AND (i.created_at > ? OR (i.created_at = ? AND i.correlation_id > ?))
                ORDER BY i.created_at, i.correlation_id LIMIT ?
                """, arguments: [after?.createdAtMillis ?? Int64.min, after?.createdAtMillis ?? Int64.min, after?.correlationId ?? "", limit])
                .map { try Self.openSettlement($0, db) }
        }
    }

    public func resolveSettlement(_ key: ProofKey, outcome: OpenSettlement.Outcome, delivered: Bool, events: [AuditEvent]) async throws {
        let events = events.map(AuditChain.Prepared.init)
        try await write { db in
            // An authorization never recorded has no intent or answer to resolve.
            if let flowKey = try Self.recordedProofKeyId(key, db) {
                try db.runRaw(sql: """
                    UPDATE settlement_intent SET outcome = ?, delivered = MAX(delivered, ?), updated_at = ? WHERE proof_key_id = ?
                    """, outcome.rawValue, delivered ? 1 : 0, clock.nowMillis(), flowKey)
                if delivered { try db.runRaw(sql: "UPDATE paid_response SET ready = 1 WHERE proof_key_id = ?", flowKey) }
            }
            try Self.append(events, db, keys: auditKeys)
        }
    }

    public func deliverSettled(_ key: ProofKey, delivery: DeliveryToken, events: [AuditEvent]) async throws -> Bool {
        let events = events.map(AuditChain.Prepared.init)
        return try await write { db in
            guard let flowKey = try Self.recordedProofKeyId(key, db) else { return false }
            try db.runRaw(sql: """
                UPDATE settlement_intent SET delivered = 1, delivery = CASE WHEN delivered = 1 THEN NULL ELSE ? END, updated_at = ?
                WHERE proof_key_id = ? AND outcome = 'settled'
                """, delivery.value, clock.nowMillis(), flowKey)
            guard db.changesCount == 1 else { return false }
            try db.runRaw(sql: "UPDATE paid_response SET ready = 1 WHERE proof_key_id = ?", flowKey)
            try Self.append(events, db, keys: auditKeys)
            return true
        }
    }

    public func recordReplay(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let events = events.map(AuditChain.Prepared.init)
        return try await write { db in
            if let flowKey = try Self.recordedProofKeyId(key, db) {
                try db.runRaw(sql: """
                    UPDATE settlement_intent SET delivery = NULL WHERE proof_key_id = ? AND outcome = 'settled' AND delivered = 1
                    """, flowKey)
                // An intent that did not change says the flow is no longer settled and delivered; none at all (purged after
                // its delivery) says nothing against the replay.
                if db.changesCount == 0, try db.firstRaw(sql: "SELECT 1 FROM settlement_intent WHERE proof_key_id = ?", flowKey,
                                                          read: { RawStatement.int64($0, 0) }) != nil {
                    return false
                }
            }
            try Self.append(events, db, keys: auditKeys)
            return true
        }
    }

    public func reopenDelivery(_ delivery: SettledDelivery, keepForOwner: Bool, nowSeconds: Int64, events: @escaping @Sendable (ReopenedDelivery) -> [AuditEvent]) async throws
        -> ReopenedDelivery {
        try await write { db in
            var outcome = ReopenedDelivery.unchanged
            if let flowKey = try Self.recordedProofKeyId(delivery.key, db) {
                try db.runRaw(sql: """
                    UPDATE settlement_intent SET delivered = 0, delivery = NULL, updated_at = ?
                    WHERE proof_key_id = ? AND correlation_id = ? AND outcome = 'settled' AND delivered = 1 AND delivery = ?
                    """, clock.nowMillis(), flowKey, delivery.correlationId, delivery.token.value)
                if db.changesCount == 1 {
                    let granted = try db.firstRaw(sql: "SELECT 1 FROM package_grant WHERE correlation_id = ?", delivery.correlationId,
                                                  read: { RawStatement.int64($0, 0) }) != nil
                    outcome = .reopened(kept: try Self.storedResponse(delivery.key, readyOnly: true, now: nowSeconds, db),
                                        correlationId: delivery.correlationId, grantedUnits: granted, keep: keepForOwner)
                    if outcome == .notKept { try db.runRaw(sql: "UPDATE paid_response SET ready = 0 WHERE proof_key_id = ?", flowKey) }
                }
            }
            try Self.append(events(outcome).map(AuditChain.Prepared.init), db, keys: auditKeys)
            return outcome
        }
    }

    public func holdForReview(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let events = events.map(AuditChain.Prepared.init)
        return try await write { db in
            guard let flowKey = try Self.recordedProofKeyId(key, db) else { return false }
            try db.runRaw(sql: """
                UPDATE settlement_intent SET outcome = 'review', updated_at = ? WHERE proof_key_id = ? AND outcome = 'settled' AND delivered = 0
                """, clock.nowMillis(), flowKey)
            guard db.changesCount == 1 else { return false }
            try Self.append(events, db, keys: auditKeys)
            return true
        }
    }

    public func abandonSettling(events: @escaping @Sendable (OpenSettlement) -> [AuditEvent]) async throws -> [OpenSettlement] {
        try await write { db in
            let rows = try Row.fetchAll(cached: db, sql: """
                SELECT i.*, b.intent, r.state FROM settlement_intent i JOIN settlement_intent_body b ON b.intent_id = i.id
                  JOIN reservation r ON r.proof_key_id = i.proof_key_id
                WHERE r.state = 'settling'
                """)
            var changed: [OpenSettlement] = []
            for row in rows {
                var open = try Self.openSettlement(row, db)
                try db.runRaw(sql: "UPDATE reservation SET state = 'unknown', updated_at = ? WHERE proof_key_id = ?",
                              clock.nowMillis(), row["proof_key_id"] as Int64)
                open.state = .unknown
                try Self.append(events(open), db, keys: auditKeys)
                changed.append(open)
            }
            return changed
        }
    }

    /// Called by `finish` and `recordDelivery`: the intent takes the reservation's outcome, unless it was closed
    /// (refunded, under review: a resolution landing after the refund does not reopen it) or settled and now said to have
    /// failed (two resolutions racing, one told "already used" by the other's success, must not undo it). Returns the intent's outcome
    /// as the statement left it (nil: the flow has no intent), so a delivery can be refused without a read before it.
    @discardableResult
    static func settleIntent(_ proofKeyId: Int64, state: Reservation.State?, transaction: String?, delivery: DeliveryToken?, now: Int64,
                             _ db: Database) throws -> OpenSettlement.Outcome? {
        let outcome = StoreRetention.intentOutcome(state)?.rawValue
        let left = try db.firstRaw(sql: """
            UPDATE settlement_intent SET outcome = CASE WHEN outcome IN ('refunded', 'review') THEN outcome
                                                        WHEN outcome = 'settled' AND ? = 'failed' THEN outcome ELSE COALESCE(?, outcome) END,
                                         tx = COALESCE(NULLIF(?, ''), tx), delivered = MAX(delivered, ?),
                                         delivery = CASE WHEN ? IS NULL THEN delivery WHEN delivered = 1 THEN NULL ELSE ? END, updated_at = ?
            WHERE proof_key_id = ? RETURNING outcome
            """, outcome, outcome, transaction, delivery == nil ? 0 : 1, delivery?.value, delivery?.value, now, proofKeyId) { RawStatement.text($0, 0) }
        return left.flatMap { $0 }.flatMap(OpenSettlement.Outcome.init(rawValue:))
    }

    static func openSettlement(_ row: Row, _ db: Database) throws -> OpenSettlement {
        var intent = try JSONDecoder().decode(SettlementIntent.self, from: Data((row["intent"] as String).utf8))
        intent.response = try storedResponse(intent.key, readyOnly: false, now: nil, db)
        return OpenSettlement(intent: intent, state: (row["state"] as String?).flatMap(Reservation.State.init(rawValue:)) ?? .unknown,
                              outcome: OpenSettlement.Outcome(rawValue: row["outcome"]) ?? .open, delivered: (row["delivered"] as Int) == 1,
                              transaction: row["tx"])
    }
}
