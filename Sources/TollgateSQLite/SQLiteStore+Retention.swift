import GRDB
import TollgateCore

/// What the store forgets, and what flows that never ended give back (`ReservationJanitor`).
extension SQLiteStore {
    public func purgeReservations(expiredBefore unixSeconds: Int64) async throws -> Int {
        // Claims go a bounded batch per transaction: after an outage there may be many, and the writer serves paid requests.
        let purged = try await StoreRetention.inBatches {
            try await write { db in try Self.purgeClaims(expiredBefore: unixSeconds, now: clock.nowMillis(), db, keys: auditKeys) }
        }
        try await write { db in
            try db.run(sql: "DELETE FROM paid_response WHERE expires_at < ?", arguments: [unixSeconds])
            try db.run(sql: "DELETE FROM payment_identifier WHERE created_at < ?",
                           arguments: [(unixSeconds - StoreRetention.paymentIdentifierSeconds) * 1000])
            // Resolved intents only (`StoreRetention.isResolved`): open, undelivered and review ones stay until they are resolved.
            try db.run(sql: """
                DELETE FROM settlement_intent WHERE updated_at < ? AND ((outcome = 'settled' AND delivered = 1) OR outcome IN ('failed', 'refunded'))
                """, arguments: [unixSeconds * 1000])
        }
        return purged
    }

    /// Purges up to `StoreRetention.purgeBatch` expired claims. What a purged flow still holds goes back to its caps
    /// (only an abandoned `reserved` claim holds anything then: a failed one gave it back), with a `claim_lapsed` event.
    static func purgeClaims(expiredBefore unixSeconds: Int64, now: Int64, _ db: Database, keys: KeyRing?) throws -> Int {
        let claims = try Row.fetchAll(cached: db, sql: """
            SELECT id, correlation_id, client_id, resource, state FROM reservation
            WHERE valid_before < ? AND state IN \(Self.sqlList(StoreRetention.purgeableStates)) LIMIT ?
            """, arguments: [unixSeconds, StoreRetention.purgeBatch])
        var lapsed: [AuditEvent] = []
        for claim in claims {
            let flow: String = claim["correlation_id"]
            try endHolds(flow, as: .released, db)
            if (claim["state"] as String) == Reservation.State.reserved.rawValue {
                lapsed.append(StoreRetention.lapsedClaimEvent(correlationId: flow, clientId: claim["client_id"], resource: claim["resource"],
                                                              atMillis: now))
            }
            try db.execute(sql: "DELETE FROM reservation WHERE id = ?", arguments: [claim["id"] as Int64])
        }
        try append(lapsed, db, keys: keys)
        return claims.count
    }
}
