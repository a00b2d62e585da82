import Foundation
import GRDB
import TollgateCore

extension SQLiteStore {
    /// Records a refund: Core's `RefundPolicy` decides from the payment (or package spend) and the refunds so far,
    /// read in the same transaction as the write, so two refunds of one flow racing each other can never together
    /// exceed what it paid.
    public func refund(_ request: RefundRequest, nowMillis: Int64) async throws -> Refund {
        let request = try RefundPolicy.validated(request)
        return try await write { db in
            if let key = request.requestKey,
               let recorded = try Row.fetchOne(db, sql: "SELECT * FROM refund WHERE request_key = ?", arguments: [key]).map(Self.refundRecord) {
                return try RefundPolicy.replay(recorded, of: request)
            }
            let refund: Refund
            var takeBack: RefundPolicy.TakeBack?
            if let payment = try Row.fetchOne(cached: db, sql: "SELECT * FROM payment WHERE correlation_id = ? ORDER BY id LIMIT 1",
                                              arguments: [request.correlationId]).map(Self.payment) {
                if request.onlyIfUndelivered {
                    let intent = try Row.fetchOne(cached: db, sql: """
                        SELECT outcome, delivered FROM settlement_intent
                        WHERE proof_key_id = (SELECT proof_key_id FROM reservation WHERE correlation_id = ?)
                        """, arguments: [request.correlationId])
                    try RefundPolicy.checkUndelivered(request, outcome: intent.flatMap { OpenSettlement.Outcome(rawValue: $0["outcome"]) },
                                                      delivered: intent.map { ($0["delivered"] as Int) == 1 } ?? false)
                }
                let refunded = try Self.refundedSoFar(request.correlationId, kind: .payout, db)
                refund = try RefundPolicy.payout(request, of: payment, refunded: refunded, id: RefundPolicy.newId(), nowMillis: nowMillis)
                // A payment that bought a package takes back the refunded share of the units, as far as the balance holds them.
                if let grant = try Row.fetchOne(cached: db, sql: "SELECT client_id, package, units FROM package_grant WHERE correlation_id = ?",
                                                arguments: [request.correlationId]),
                   let balance = try Self.balance(client: grant["client_id"], package: grant["package"], db) {
                    let taken = try RefundPolicy.takeBack(granted: grant["units"], paid: payment.amount, refundedBefore: refunded, refund: refund,
                                                          balance: balance)
                    try Self.setBalance(client: grant["client_id"], package: grant["package"], unit: nil, to: taken.balance, now: nowMillis, db)
                    takeBack = taken
                }
                // All the money given back, the answer is not given again: a retry of the proof is told of the refund instead.
                if RefundPolicy.completes(refund, refunded: refunded, of: payment),
                   let flowKey = try Int64.fetchOne(cached: db, sql: "SELECT proof_key_id FROM reservation WHERE correlation_id = ?",
                                                    arguments: [request.correlationId]) {
                    try db.execute(sql: "UPDATE settlement_intent SET outcome = 'refunded', updated_at = ? WHERE proof_key_id = ?",
                                   arguments: [nowMillis, flowKey])
                    try db.execute(sql: "UPDATE paid_response SET ready = 0 WHERE proof_key_id = ?", arguments: [flowKey])
                }
            } else if let usage = try Row.fetchOne(cached: db, sql: "SELECT * FROM usage_event WHERE correlation_id = ? AND source = 'package'",
                                                   arguments: [request.correlationId]).map(Self.usageEvent) {
                refund = try RefundPolicy.credit(request, of: usage, credited: try Self.refundedSoFar(request.correlationId, kind: .packageCredit, db),
                                                 id: RefundPolicy.newId(), nowMillis: nowMillis)
                let package = try String.fetchOne(cached: db, sql: "SELECT package FROM unit_hold WHERE correlation_id = ?", arguments: [request.correlationId])
                    ?? usage.resource
                let balance = try Self.balance(client: usage.clientId, package: package, db) ?? 0
                try Self.setBalance(client: usage.clientId, package: package, unit: usage.unit,
                                    to: PackageUnits.afterCredit(balance: balance, units: Int(refund.amount) ?? 0), now: nowMillis, db)
            } else {
                throw TollgateError(.notFound, "no payment or package spend is recorded for \(request.correlationId)")
            }
            try Self.insert(refund, requestKey: request.requestKey, takeBack: takeBack, db, keys: auditKeys)
            return refund
        }
    }

    public func refunds(state: Refund.State?, correlationId: String?, limit: Int) async throws -> [Refund] {
        try await writer.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let state {
                conditions.append("state = ?")
                arguments += [state.rawValue]
            }
            if let correlationId {
                conditions.append("correlation_id = ?")
                arguments += [correlationId]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [max(1, min(limit, 10_000))]
            return try Row.fetchAll(cached: db, sql: "SELECT * FROM refund \(filter) ORDER BY created_at DESC, id LIMIT ?", arguments: arguments)
                .map(Self.refundRecord)
        }
    }

    public func closeRefund(id: String, payoutTransaction: String, batch: Bool, actor: String, nowMillis: Int64) async throws -> Refund {
        let transaction = try RefundPolicy.payoutTransaction(payoutTransaction)
        return try await write { db in
            guard let row = try Row.fetchOne(cached: db, sql: "SELECT * FROM refund WHERE id = ?", arguments: [id]) else {
                throw TollgateError(.unknownRefund, "no refund \(id)")
            }
            let refund = try RefundPolicy.closed(Self.refundRecord(row), transaction: transaction, nowMillis: nowMillis)
            try RefundPolicy.checkPayout(
                transaction, closing: id,
                settledFlows: try String.fetchAll(db, sql: "SELECT correlation_id FROM payment WHERE lower(tx) = ? LIMIT 1", arguments: [transaction]),
                // Refunds are few (no index on payout_tx); the refusal names a handful.
                closedRefunds: try String.fetchAll(db, sql: "SELECT id FROM refund WHERE payout_tx = ? LIMIT 5", arguments: [transaction]), batch: batch)
            try db.run(sql: "UPDATE refund SET state = ?, closed_at = ?, payout_tx = ? WHERE id = ? AND state = ?",
                           arguments: [refund.state.rawValue, nowMillis, transaction, id, Refund.State.pendingPayout.rawValue])
            try Self.append([RefundPolicy.payoutEvent(refund, batch: batch, actor: actor, nowMillis: nowMillis)], db, keys: auditKeys)
            return refund
        }
    }

    static func refundedSoFar(_ correlationId: String, kind: Refund.Kind, _ db: Database) throws -> TokenAmount {
        RefundPolicy.total(try String.fetchAll(db, sql: "SELECT amount FROM refund WHERE correlation_id = ? AND kind = ?",
                                               arguments: [correlationId, kind.rawValue]))
    }

    static func insert(_ refund: Refund, requestKey: String? = nil, takeBack: RefundPolicy.TakeBack? = nil, _ db: Database, keys: KeyRing?) throws {
        try db.run(sql: """
            INSERT INTO refund (id, correlation_id, kind, state, client_id, payer, resource, amount, asset, network, unit, reason, actor,
                                automatic, created_at, closed_at, payout_tx, request_key)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [refund.id, refund.correlationId, refund.kind.rawValue, refund.state.rawValue, refund.clientId, refund.payer,
                             refund.resource, refund.amount, refund.asset, refund.network, refund.unit, refund.reason, refund.actor,
                             refund.automatic, refund.createdAtMillis, refund.closedAtMillis, refund.payoutTransaction, requestKey])
        try append([RefundPolicy.recordedEvent(refund, takeBack: takeBack)], db, keys: keys)
    }

    static func refundRecord(_ row: Row) -> Refund {
        Refund(id: row["id"], correlationId: row["correlation_id"], kind: Refund.Kind(rawValue: row["kind"]) ?? .payout,
               state: Refund.State(rawValue: row["state"]) ?? .pendingPayout, clientId: row["client_id"], payer: row["payer"],
               resource: row["resource"], amount: row["amount"], asset: row["asset"], network: row["network"], unit: row["unit"],
               reason: row["reason"], actor: row["actor"], automatic: row["automatic"], createdAtMillis: row["created_at"],
               closedAtMillis: row["closed_at"], payoutTransaction: row["payout_tx"])
    }

    static func usageEvent(_ row: Row) -> UsageEvent {
        UsageEvent(correlationId: row["correlation_id"], clientId: row["client_id"], payer: row["payer"], resource: row["resource"],
                   unit: row["unit"], quantity: row["quantity"], paidQuantity: row["paid_quantity"],
                   source: UsageEvent.Source(rawValue: row["source"]) ?? .package, amount: row["amount"], asset: row["asset"], atMillis: row["at_ms"])
    }
}
