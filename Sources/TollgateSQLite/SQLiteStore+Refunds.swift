import Foundation
import GRDB
import TollgateCore

extension SQLiteStore {
    /// Records a refund. Checked and written in one transaction, so two refunds of one flow racing each
    /// other can never together exceed what it paid.
    public func refund(_ request: RefundRequest, nowMillis: Int64) async throws -> Refund {
        let reason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.count <= 500 else { throw RefundError(.invalid, "give a reason (1–500 characters)") }
        if let amount = request.amount, amount.isZero { throw RefundError(.invalid, "the amount must be greater than zero") }
        return try await write { db in
            if let payment = try Row.fetchOne(db, sql: "SELECT * FROM payment WHERE correlation_id = ? ORDER BY id LIMIT 1",
                                              arguments: [request.correlationId]) {
                return try Self.refundPayment(payment, request: request, reason: reason, now: nowMillis, db, keys: auditKeys)
            }
            if let usage = try Row.fetchOne(db, sql: "SELECT * FROM usage_event WHERE correlation_id = ? AND source = 'package'",
                                            arguments: [request.correlationId]) {
                return try Self.creditUnits(usage, request: request, reason: reason, now: nowMillis, db, keys: auditKeys)
            }
            throw RefundError(.notFound, "no payment or package spend is recorded for \(request.correlationId)")
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
            return try Row.fetchAll(db, sql: "SELECT * FROM refund \(filter) ORDER BY created_at DESC, id LIMIT ?", arguments: arguments)
                .map(Self.refundRecord)
        }
    }

    public func closeRefund(id: String, payoutTransaction: String, actor: String, nowMillis: Int64) async throws -> Refund {
        let transaction = payoutTransaction.lowercased()
        guard transaction.utf8.count == 66, transaction.hasPrefix("0x"), HexString.decode(String(transaction.dropFirst(2))) != nil else {
            throw RefundError(.invalid, "the payout transaction must be 0x followed by 64 hex digits")
        }
        return try await write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM refund WHERE id = ?", arguments: [id]) else {
                throw RefundError(.unknownRefund, "no refund \(id)")
            }
            var refund = Self.refundRecord(row)
            guard refund.state == .pendingPayout else {
                throw RefundError(.notPending, "refund \(id) is \(refund.state.rawValue), not pending_payout")
            }
            try db.execute(sql: "UPDATE refund SET state = 'paid', closed_at = ?, payout_tx = ? WHERE id = ?",
                           arguments: [nowMillis, transaction, id])
            refund.state = .paid
            refund.closedAtMillis = nowMillis
            refund.payoutTransaction = transaction
            try Self.append([Self.event(refund, reason: "payout_recorded", actor: actor, now: nowMillis)], db, keys: auditKeys)
            return refund
        }
    }

    /// An on-chain payment: a `pending_payout` record, never more in total than the payment. When the payment
    /// bought a package, the units it bought are taken back in proportion, as far as the balance still holds them.
    static func refundPayment(_ payment: Row, request: RefundRequest, reason: String, now: Int64, _ db: Database, keys: KeyRing?) throws -> Refund {
        let paid = TokenAmount(atomic: payment["amount"] as String) ?? TokenAmount(atomic: "0")!
        let refunded = try refundedSoFar(request.correlationId, kind: .payout, db)
        let remaining = paid.subtracting(refunded) ?? TokenAmount(atomic: "0")!
        guard !remaining.isZero else { throw RefundError(.alreadyRefunded, "\(request.correlationId) is already refunded in full (\(paid.atomic))") }
        let amount = request.amount ?? remaining
        guard amount <= remaining else {
            throw RefundError(.exceedsPaid, "\(amount.atomic) exceeds what is left to refund: \(remaining.atomic) of \(paid.atomic) paid (atomic units)")
        }
        if let grant = try Row.fetchOne(db, sql: "SELECT client_id, package, units FROM package_grant WHERE correlation_id = ?",
                                        arguments: [request.correlationId]) {
            let units = TokenAmount.proportion(of: grant["units"] as Int, part: amount, whole: paid)
            try db.execute(sql: "UPDATE package_balance SET balance = max(0, balance - ?), updated_at = ? WHERE client_id = ? AND package = ?",
                           arguments: [units, now, grant["client_id"] as String, grant["package"] as String])
        }
        let refund = Refund(id: newId(), correlationId: request.correlationId, kind: .payout, state: .pendingPayout,
                            clientId: payment["client_id"], payer: payment["payer"], resource: payment["resource"], amount: amount.atomic,
                            asset: payment["asset"], network: payment["network"], unit: payment["unit"], reason: reason,
                            actor: request.actor, automatic: request.automatic, createdAtMillis: now)
        try insert(refund, db, keys: keys)
        return refund
    }

    /// Units spent from a package: given back to the balance at once.
    static func creditUnits(_ usage: Row, request: RefundRequest, reason: String, now: Int64, _ db: Database, keys: KeyRing?) throws -> Refund {
        let consumed = TokenAmount(atomic: String(usage["quantity"] as Int)) ?? TokenAmount(atomic: "0")!
        let remaining = consumed.subtracting(try refundedSoFar(request.correlationId, kind: .packageCredit, db)) ?? TokenAmount(atomic: "0")!
        guard !remaining.isZero else { throw RefundError(.alreadyRefunded, "the units of \(request.correlationId) are already credited back") }
        let amount = request.amount ?? remaining
        guard amount <= remaining, let units = Int(amount.atomic) else {
            throw RefundError(.exceedsPaid, "\(amount.atomic) units exceed what is left to credit: \(remaining.atomic) of \(consumed.atomic) spent")
        }
        let client: String = usage["client_id"]
        let package = try String.fetchOne(db, sql: "SELECT package FROM unit_hold WHERE correlation_id = ?", arguments: [request.correlationId])
            ?? (usage["resource"] as String)
        try db.execute(sql: """
            INSERT INTO package_balance (client_id, package, unit, balance, updated_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (client_id, package) DO UPDATE SET balance = balance + excluded.balance, updated_at = excluded.updated_at
            """, arguments: [client, package, usage["unit"] as String, units, now])
        let refund = Refund(id: newId(), correlationId: request.correlationId, kind: .packageCredit, state: .credited, clientId: client,
                            payer: usage["payer"], resource: usage["resource"], amount: amount.atomic, asset: "", network: "",
                            unit: usage["unit"], reason: reason, actor: request.actor, automatic: request.automatic,
                            createdAtMillis: now, closedAtMillis: now)
        try insert(refund, db, keys: keys)
        return refund
    }

    static func refundedSoFar(_ correlationId: String, kind: Refund.Kind, _ db: Database) throws -> TokenAmount {
        try String.fetchAll(db, sql: "SELECT amount FROM refund WHERE correlation_id = ? AND kind = ?", arguments: [correlationId, kind.rawValue])
            .reduce(TokenAmount(atomic: "0")!) { total, amount in TokenAmount(atomic: amount).flatMap { total.adding($0) } ?? total }
    }

    static func insert(_ refund: Refund, _ db: Database, keys: KeyRing?) throws {
        try db.execute(sql: """
            INSERT INTO refund (id, correlation_id, kind, state, client_id, payer, resource, amount, asset, network, unit, reason, actor,
                                automatic, created_at, closed_at, payout_tx)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [refund.id, refund.correlationId, refund.kind.rawValue, refund.state.rawValue, refund.clientId, refund.payer,
                             refund.resource, refund.amount, refund.asset, refund.network, refund.unit, refund.reason, refund.actor,
                             refund.automatic, refund.createdAtMillis, refund.closedAtMillis, refund.payoutTransaction])
        try append([event(refund, reason: refund.automatic ? "automatic_refund" : "refund_recorded", actor: refund.actor,
                          now: refund.createdAtMillis)], db, keys: keys)
    }

    /// The audit event of a refund, under the refunded flow's correlation id so its trace shows it.
    static func event(_ refund: Refund, reason: String, actor: String, now: Int64) -> AuditEvent {
        var details = ["refund_id": refund.id, "kind": refund.kind.rawValue, "state": refund.state.rawValue, "amount": refund.amount,
                       "automatic": String(refund.automatic), "actor": actor, "reason_text": refund.reason]
        if !refund.asset.isEmpty { details["asset"] = refund.asset }
        if !refund.network.isEmpty { details["network"] = refund.network }
        if refund.kind == .packageCredit { details["unit"] = refund.unit }
        if let transaction = refund.payoutTransaction { details["payout_transaction"] = transaction }
        return AuditEvent(correlationId: refund.correlationId, timeMillis: now, stage: .refund, outcome: .ok, reason: reason,
                          clientId: refund.clientId, resource: refund.resource, details: details)
    }

    static func refundRecord(_ row: Row) -> Refund {
        Refund(id: row["id"], correlationId: row["correlation_id"], kind: Refund.Kind(rawValue: row["kind"]) ?? .payout,
               state: Refund.State(rawValue: row["state"]) ?? .pendingPayout, clientId: row["client_id"], payer: row["payer"],
               resource: row["resource"], amount: row["amount"], asset: row["asset"], network: row["network"], unit: row["unit"],
               reason: row["reason"], actor: row["actor"], automatic: row["automatic"], createdAtMillis: row["created_at"],
               closedAtMillis: row["closed_at"], payoutTransaction: row["payout_tx"])
    }

    static func newId() -> String { "rf_" + AdminEvent.randomHex() }
}
