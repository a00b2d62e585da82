import PostgresNIO
import TollgateCore

extension PostgresStore {
    /// Records a refund: Core's `RefundPolicy` decides from the payment (or package spend) and the refunds so far,
    /// read in the same transaction as the write (under the write lock), so two refunds of one flow racing each
    /// other, on one instance or two, can never together exceed what it paid.
    public func refund(_ request: RefundRequest, nowMillis: Int64) async throws -> Refund {
        let request = try RefundPolicy.validated(request), keys = auditKeys
        return try await database.write { tx in
            if let key = request.requestKey, let recorded = try await tx.row("SELECT * FROM refund WHERE request_key = \(key)").map(Self.refundRecord) {
                return try RefundPolicy.replay(recorded, of: request)
            }
            let refund: Refund
            var takeBack: RefundPolicy.TakeBack?
            if let payment = try await tx.row("SELECT * FROM payment WHERE correlation_id = \(request.correlationId) ORDER BY id LIMIT 1")
                .map(Self.payment) {
                if request.onlyIfUndelivered {
                    // Read under the write lock every write transaction takes first (and locked besides, should that change):
                    // a delivery recorded now (`deliverSettled`, another instance) comes after this refund and finds the
                    // flow refunded; one recorded before is seen here.
                    let intent = try await tx.row("""
                        SELECT i.outcome, i.delivered FROM reservation r JOIN settlement_intent i
                          ON i.network = r.network AND i.asset = r.asset AND i.payer = r.payer AND i.nonce = r.nonce
                        WHERE r.correlation_id = \(request.correlationId) FOR UPDATE OF i
                        """)
                    try RefundPolicy.checkUndelivered(request, outcome: try intent.flatMap { OpenSettlement.Outcome(rawValue: try $0.get("outcome")) },
                                                      delivered: try intent.map { try $0.get("delivered") as Bool } ?? false)
                }
                let refunded = try await Self.refundedSoFar(request.correlationId, kind: .payout, tx)
                refund = try RefundPolicy.payout(request, of: payment, refunded: refunded, id: RefundPolicy.newId(), nowMillis: nowMillis)
                // A payment that bought a package takes back the refunded share of the units, as far as the balance holds them.
                if let grant = try await tx.row("SELECT client_id, package, units FROM package_grant WHERE correlation_id = \(request.correlationId)"),
                   let balance = try await Self.balance(client: try grant.get("client_id"), package: try grant.get("package"), tx) {
                    let taken = try RefundPolicy.takeBack(granted: try grant.get("units"), paid: payment.amount, refundedBefore: refunded, refund: refund,
                                                          balance: balance)
                    try await Self.setBalance(client: try grant.get("client_id"), package: try grant.get("package"), unit: nil,
                                              to: taken.balance, now: nowMillis, tx)
                    takeBack = taken
                }
                // All the money given back, the answer is not given again: a retry of the proof is told of the refund instead.
                if RefundPolicy.completes(refund, refunded: refunded, of: payment),
                   let flow = try await tx.row("SELECT network, asset, payer, nonce FROM reservation WHERE correlation_id = \(request.correlationId)") {
                    let key = ProofKey(network: try flow.get("network"), asset: try flow.get("asset"), payer: try flow.get("payer"),
                                       nonce: try flow.get("nonce"))
                    try await tx.execute("UPDATE settlement_intent SET outcome = 'refunded', updated_at = \(nowMillis) WHERE \(row: key)")
                    try await tx.execute("UPDATE paid_response SET ready = FALSE WHERE \(row: key)")
                }
            } else if let usage = try await tx.row("""
                SELECT * FROM usage_event WHERE correlation_id = \(request.correlationId) AND source = 'package'
                """).map(Self.usageEvent) {
                refund = try RefundPolicy.credit(request, of: usage,
                                                 credited: try await Self.refundedSoFar(request.correlationId, kind: .packageCredit, tx),
                                                 id: RefundPolicy.newId(), nowMillis: nowMillis)
                let package = try await tx.value("SELECT package FROM unit_hold WHERE correlation_id = \(request.correlationId)", as: String.self)
                    ?? usage.resource
                let balance = try await Self.balance(client: usage.clientId, package: package, tx) ?? 0
                try await Self.setBalance(client: usage.clientId, package: package, unit: usage.unit,
                                          to: PackageUnits.afterCredit(balance: balance, units: Int(refund.amount) ?? 0), now: nowMillis, tx)
            } else {
                throw TollgateError(.notFound, "no payment or package spend is recorded for \(request.correlationId)")
            }
            try await Self.insert(refund, requestKey: request.requestKey, takeBack: takeBack, tx, keys: keys)
            return refund
        }
    }

    public func refunds(state: Refund.State?, correlationId: String?, limit: Int) async throws -> [Refund] {
        try await database.read { tx in
            try await tx.rows("""
                SELECT * FROM refund WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
                  AND (\(correlationId)::text IS NULL OR correlation_id = \(correlationId))
                ORDER BY created_at DESC, id LIMIT \(max(1, min(limit, 10_000)))
                """).map(Self.refundRecord)
        }
    }

    public func closeRefund(id: String, payoutTransaction: String, batch: Bool, actor: String, nowMillis: Int64) async throws -> Refund {
        let transaction = try RefundPolicy.payoutTransaction(payoutTransaction), keys = auditKeys
        return try await database.write { tx in
            guard let row = try await tx.row("SELECT * FROM refund WHERE id = \(id)") else {
                throw TollgateError(.unknownRefund, "no refund \(id)")
            }
            let refund = try RefundPolicy.closed(Self.refundRecord(row), transaction: transaction, nowMillis: nowMillis)
            try RefundPolicy.checkPayout(
                transaction, closing: id,
                settledFlows: try await tx.values("SELECT correlation_id FROM payment WHERE lower(tx) = \(transaction) LIMIT 1", as: String.self),
                closedRefunds: try await tx.values("SELECT id FROM refund WHERE payout_tx = \(transaction) LIMIT 5", as: String.self), batch: batch)
            try await tx.execute("""
                UPDATE refund SET state = \(refund.state.rawValue), closed_at = \(nowMillis), payout_tx = \(transaction)
                WHERE id = \(id) AND state = \(Refund.State.pendingPayout.rawValue)
                """)
            try await Self.append([RefundPolicy.payoutEvent(refund, batch: batch, actor: actor, nowMillis: nowMillis)], tx, keys: keys)
            return refund
        }
    }

    static func refundedSoFar(_ correlationId: String, kind: Refund.Kind, _ tx: PostgresTransaction) async throws -> TokenAmount {
        RefundPolicy.total(try await tx.values("SELECT amount FROM refund WHERE correlation_id = \(correlationId) AND kind = \(kind.rawValue)",
                                               as: String.self))
    }

    static func insert(_ refund: Refund, requestKey: String? = nil, takeBack: RefundPolicy.TakeBack? = nil, _ tx: PostgresTransaction,
                       keys: KeyRing?) async throws {
        try await tx.execute("""
            INSERT INTO refund (id, correlation_id, kind, state, client_id, payer, resource, amount, asset, network, unit, reason, actor,
                                automatic, created_at, closed_at, payout_tx, request_key)
            VALUES (\(refund.id), \(refund.correlationId), \(refund.kind.rawValue), \(refund.state.rawValue), \(refund.clientId), \(refund.payer),
                    \(refund.resource), \(refund.amount), \(refund.asset), \(refund.network), \(refund.unit), \(refund.reason), \(refund.actor),
                    \(refund.automatic), \(refund.createdAtMillis), \(refund.closedAtMillis), \(refund.payoutTransaction), \(requestKey))
            """)
        try await append([RefundPolicy.recordedEvent(refund, takeBack: takeBack)], tx, keys: keys)
    }

    static func refundRecord(_ row: PostgresRandomAccessRow) throws -> Refund {
        Refund(id: try row.get("id"), correlationId: try row.get("correlation_id"), kind: Refund.Kind(rawValue: try row.get("kind")) ?? .payout,
               state: Refund.State(rawValue: try row.get("state")) ?? .pendingPayout, clientId: try row.get("client_id"), payer: try row.get("payer"),
               resource: try row.get("resource"), amount: try row.get("amount"), asset: try row.get("asset"), network: try row.get("network"),
               unit: try row.get("unit"), reason: try row.get("reason"), actor: try row.get("actor"), automatic: try row.get("automatic"),
               createdAtMillis: try row.get("created_at"), closedAtMillis: try row.get("closed_at"), payoutTransaction: try row.get("payout_tx"))
    }

    static func usageEvent(_ row: PostgresRandomAccessRow) throws -> UsageEvent {
        UsageEvent(correlationId: try row.get("correlation_id"), clientId: try row.get("client_id"), payer: try row.get("payer"),
                   resource: try row.get("resource"), unit: try row.get("unit"), quantity: try row.get("quantity"),
                   paidQuantity: try row.get("paid_quantity"), source: UsageEvent.Source(rawValue: try row.get("source")) ?? .package,
                   amount: try row.get("amount"), asset: try row.get("asset"), atMillis: try row.get("at_ms"))
    }
}
