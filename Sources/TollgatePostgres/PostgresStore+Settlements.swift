import Foundation
import PostgresNIO
import TollgateCore

extension PostgresStore {
    public func recordSettlementIntent(_ intent: SettlementIntent, events: [AuditEvent]) async throws {
        let now = clock.nowMillis(), keys = auditKeys, me = instanceId, grace = settlingGraceMillis
        var stored = intent
        stored.response = nil
        let json = String(decoding: JSONWriter.bytes(stored, capacity: 4096), as: UTF8.self)
        let events = events.map(AuditChain.Prepared.init)
        try await database.write { tx in
            // The intent, the answer prepared before settling and the claim's move to `settling` in one statement (one
            // round trip under the write lock).
            let claim = try await tx.run(IntentStatement(intent: intent, json: json, now: now, owner: me, grace: grace))
            // Taken over by another instance while this one was held up, or released since: nothing is written (the
            // transaction is rolled back) and `/settle` is not sent; whoever holds the claim settles it.
            if try claim.first?.decode(Bool?.self) != false {
                throw TollgateError(.claimHeldElsewhere, "the claim of \(intent.key) is held by another instance now; not settling it here")
            }
            try await Self.append(events, tx, keys: keys)
        }
    }

    public func openSettlement(_ key: ProofKey) async throws -> OpenSettlement? {
        let me = instanceId, grace = settlingGraceMillis
        return try await database.read(snapshot: true) { tx in
            guard let row = try await tx.row("\(unescaped: Self.intentWithState) WHERE \(row: key, table: "i")") else { return nil }
            var open = try await Self.openSettlement(row, tx)
            // Live at another instance that renews it (`reserve` decides a copy is busy by the same rule).
            if open.isLive, let owner = try row.get("claim_owner", as: String?.self), owner != me,
               let age = try row.get("lease_age", as: Int64?.self), age < grace {
                open.leasedElsewhere = true
            }
            return open
        }
    }

    public func unresolvedSettlements(after: SettlementCursor?, limit: Int) async throws -> [OpenSettlement] {
        try await settlements(where: "(i.outcome = 'open' OR (i.outcome = 'settled' AND NOT i.delivered))", after: after, limit: limit)
    }

    public func settlementsForReview(limit: Int) async throws -> [OpenSettlement] {
        try await settlements(where: "i.outcome = 'review'", after: nil, limit: limit)
    }

    private func settlements(where condition: String, after: SettlementCursor?, limit: Int) async throws -> [OpenSettlement] {
        let createdAt = after?.createdAtMillis ?? Int64.min, correlationId = after?.correlationId ?? ""
        return try await database.read(snapshot: true) { tx in
            var found: [OpenSettlement] = []
            for row in try await tx.rows("""
                \(unescaped: Self.intentWithState) WHERE \(unescaped: condition) AND (i.created_at, i.correlation_id) > (\(createdAt), \(correlationId))
                ORDER BY i.created_at, i.correlation_id LIMIT \(limit)
                """) {
                found.append(try await Self.openSettlement(row, tx))
            }
            return found
        }
    }

    public func resolveSettlement(_ key: ProofKey, outcome: OpenSettlement.Outcome, delivered: Bool, events: [AuditEvent]) async throws {
        let now = clock.nowMillis(), keys = auditKeys
        let events = events.map(AuditChain.Prepared.init)
        try await database.write { tx in
            try await tx.execute("""
                UPDATE settlement_intent SET outcome = \(outcome.rawValue), delivered = delivered OR \(delivered), updated_at = \(now) WHERE \(row: key)
                """)
            if delivered {
                try await tx.execute("UPDATE paid_response SET ready = TRUE WHERE \(row: key)")
            }
            try await Self.append(events, tx, keys: keys)
        }
    }

    public func deliverSettled(_ key: ProofKey, delivery: DeliveryToken, events: [AuditEvent]) async throws -> Bool {
        let now = clock.nowMillis(), keys = auditKeys
        let events = events.map(AuditChain.Prepared.init)
        return try await database.write { tx in
            let marked = try await tx.count("""
                UPDATE settlement_intent SET delivered = TRUE, delivery = CASE WHEN delivered THEN NULL ELSE \(delivery.value) END, updated_at = \(now)
                WHERE \(row: key) AND outcome = 'settled' RETURNING 1
                """)
            guard marked > 0 else { return false }
            try await tx.execute("UPDATE paid_response SET ready = TRUE WHERE \(row: key)")
            try await Self.append(events, tx, keys: keys)
            return true
        }
    }

    public func recordReplay(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let keys = auditKeys
        let events = events.map(AuditChain.Prepared.init)
        return try await database.write { tx in
            // An intent that is no longer settled and delivered refuses the replay; none at all (purged after its delivery)
            // says nothing against it. One statement: the update and whether the intent exists.
            let refused = try await tx.value("""
                WITH replayed AS (
                    UPDATE settlement_intent SET delivery = NULL WHERE \(row: key) AND outcome = 'settled' AND delivered RETURNING 1
                )
                SELECT NOT EXISTS (SELECT 1 FROM replayed) AND EXISTS (SELECT 1 FROM settlement_intent WHERE \(row: key))
                """, as: Bool.self) ?? false
            guard !refused else { return false }
            try await Self.append(events, tx, keys: keys)
            return true
        }
    }

    public func reopenDelivery(_ delivery: SettledDelivery, keepForOwner: Bool, nowSeconds: Int64, events: @escaping @Sendable (ReopenedDelivery) -> [AuditEvent]) async throws
        -> ReopenedDelivery {
        let now = clock.nowMillis(), keys = auditKeys, key = delivery.key
        return try await database.write { tx in
            var outcome = ReopenedDelivery.unchanged
            let reopened = try await tx.count("""
                UPDATE settlement_intent SET delivered = FALSE, delivery = NULL, updated_at = \(now)
                WHERE \(row: key) AND correlation_id = \(delivery.correlationId) AND outcome = 'settled' AND delivered
                  AND delivery = \(delivery.token.value)
                RETURNING 1
                """)
            if reopened == 1 {
                // Nobody is working on it now (the delivery was lost, not still running): a retry at any instance carries it on.
                try await tx.execute("UPDATE reservation SET owner = '', lease_at = 0 WHERE \(row: key)")
                let granted = try await tx.count("SELECT 1 FROM package_grant WHERE correlation_id = \(delivery.correlationId)") > 0
                outcome = .reopened(kept: try await Self.storedResponse(key, readyOnly: true, now: nowSeconds, tx),
                                    correlationId: delivery.correlationId, grantedUnits: granted, keep: keepForOwner)
                if outcome == .notKept { try await tx.execute("UPDATE paid_response SET ready = FALSE WHERE \(row: key)") }
            }
            try await Self.append(events(outcome).map(AuditChain.Prepared.init), tx, keys: keys)
            return outcome
        }
    }

    public func holdForReview(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let now = clock.nowMillis(), keys = auditKeys
        let events = events.map(AuditChain.Prepared.init)
        return try await database.write { tx in
            let held = try await tx.count("""
                UPDATE settlement_intent SET outcome = 'review', updated_at = \(now)
                WHERE \(row: key) AND outcome = 'settled' AND NOT delivered RETURNING 1
                """)
            guard held > 0 else { return false }
            try await Self.append(events, tx, keys: keys)
            return true
        }
    }

    /// Claims `settling` whose lease is older than the grace period (`storage.postgres.settling_grace_seconds`) become
    /// `unknown`. On a shared database other instances may be settling right now: they renew their claims' leases while
    /// they work on them (`renewClaims`), which are left to them; a claim whose lease lapsed belongs to an instance that
    /// stopped or a request that ended, and the reconciler resolves it.
    public func abandonSettling(events: @escaping @Sendable (OpenSettlement) -> [AuditEvent]) async throws -> [OpenSettlement] {
        let now = clock.nowMillis(), keys = auditKeys, grace = settlingGraceMillis
        return try await database.write { tx in
            var changed: [OpenSettlement] = []
            for row in try await tx.rows("""
                \(unescaped: Self.intentWithState) WHERE r.state = 'settling' AND r.lease_at <= \(unescaped: Self.databaseMillis) - \(grace)
                """) {
                var open = try await Self.openSettlement(row, tx)
                try await tx.execute("UPDATE reservation SET state = 'unknown', updated_at = \(now) WHERE \(row: open.intent.key)")
                open.state = .unknown
                try await Self.append(events(open), tx, keys: keys)
                changed.append(open)
            }
            return changed
        }
    }

    /// An intent with its reservation's state (`i`, `r`), the claim's owner and its lease's age on the database's clock.
    static let intentWithState = """
        SELECT i.*, r.state, r.owner AS claim_owner, \(databaseMillis) - r.lease_at AS lease_age FROM settlement_intent i LEFT JOIN reservation r
          ON r.network = i.network AND r.asset = i.asset AND r.payer = i.payer AND r.nonce = i.nonce
        """

    /// Called by `finish` and `recordDelivery`: the intent takes the reservation's outcome, the reservation takes
    /// `state` (when given) and the flow's held spend moves to `holds` (when given; not `released`, which gives amounts
    /// back: `endHolds`), and what `also` writes, all in one statement, one round trip under the write lock. Returns the
    /// reservation's flow and the intent's outcome after the statement (without `state`, the outcome it had: so a
    /// delivery can be refused, the statement undone with its write, without a read before it).
    @discardableResult
    static func settleIntent(_ key: ProofKey, state: Reservation.State?, transaction: String?, delivery: DeliveryToken?, now: Int64,
                             holds: SpendHolds.State? = nil, with also: AlsoWritten = .init(),
                             _ tx: PostgresTransaction) async throws -> (flow: String?, outcome: OpenSettlement.Outcome?) {
        precondition(holds != .released, "released holds give their amounts back: endHolds")
        let rows = try await tx.run(SettleIntentStatement(
            key: key, outcome: StoreRetention.intentOutcome(state)?.rawValue, transaction: transaction, delivery: delivery, now: now,
            state: state?.rawValue, holds: holds?.rawValue, also: also))
        guard let row = rows.first else { return (nil, nil) }
        let (flow, outcome) = try row.decode((String?, String?).self)
        return (flow, outcome.flatMap(OpenSettlement.Outcome.init(rawValue:)))
    }

    static func openSettlement(_ row: PostgresRandomAccessRow, _ tx: PostgresTransaction) async throws -> OpenSettlement {
        var intent = try JSONDecoder().decode(SettlementIntent.self, from: Data(try row.get("intent", as: String.self).utf8))
        intent.response = try await storedResponse(intent.key, readyOnly: false, now: nil, tx)
        return OpenSettlement(intent: intent, state: try row.get("state", as: String?.self).flatMap(Reservation.State.init(rawValue:)) ?? .unknown,
                              outcome: OpenSettlement.Outcome(rawValue: try row.get("outcome")) ?? .open, delivered: try row.get("delivered"),
                              transaction: try row.get("tx"))
    }
}
