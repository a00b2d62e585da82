import PostgresNIO
import TollgateCore

extension PostgresStore {
    public func recordDelivery(_ key: ProofKey, response: StoredResponse?, metering: MeteringRecord?, delivery: DeliveryToken,
                               events: [AuditEvent]) async throws {
        let now = clock.nowMillis(), keys = auditKeys
        let events = events.map(AuditChain.Prepared.init)
        try await database.write { tx in
            // Refused after the statement ran, it is undone with the rest of this write: one round trip, not a read first.
            let (_, outcome) = try await Self.settleIntent(key, state: nil, transaction: nil, delivery: delivery, now: now,
                                                          with: .init(response: response), tx)
            try RefundPolicy.checkDeliverable(outcome)
            if let metering { try await Self.record(metering, now: now, tx) }
            try await Self.append(events, tx, keys: keys)
        }
    }

    public func holdUnits(_ hold: UnitHold, events: [AuditEvent]) async throws -> UnitHoldOutcome {
        let now = clock.nowMillis(), keys = auditKeys
        let events = events.map(AuditChain.Prepared.init)
        return try await database.write { tx in
            let balance = try await Self.balance(client: hold.clientId, package: hold.package, tx)
            guard let remaining = PackageUnits.afterHold(balance: balance ?? 0, units: hold.units) else { return .insufficient(balance: balance ?? 0) }
            // A hold needs a balance to hold from (a package bought before): zero units from none is still none.
            guard balance != nil else { return .insufficient(balance: 0) }
            try await Self.setBalance(client: hold.clientId, package: hold.package, unit: nil, to: remaining, now: now, tx)
            try await tx.execute("""
                INSERT INTO unit_hold (correlation_id, client_id, package, units, state, at_ms)
                VALUES (\(hold.correlationId), \(hold.clientId), \(hold.package), \(hold.units), 'held', \(now))
                """)
            try await Self.append(events, tx, keys: keys)
            return .held(remaining: remaining)
        }
    }

    public func finishUnits(correlationId: String, consumed: Int, usage: UsageEvent?, events: [AuditEvent]) async throws {
        let now = clock.nowMillis(), keys = auditKeys
        let events = events.map(AuditChain.Prepared.init)
        try await database.write { tx in
            var events = events, usage = usage
            if let row = try await tx.row("SELECT client_id, package, units, state FROM unit_hold WHERE correlation_id = \(correlationId)") {
                let hold = UnitHold(correlationId: correlationId, clientId: try row.get("client_id"), package: try row.get("package"),
                                    units: try row.get("units"))
                let balance = try await Self.balance(client: hold.clientId, package: hold.package, tx)
                if let finish = PackageUnits.finishing(hold, state: try row.get("state"), balance: balance, consumed: consumed, atMillis: now) {
                    if let after = finish.balance {
                        try await Self.setBalance(client: hold.clientId, package: hold.package, unit: nil, to: after, now: now, tx)
                    }
                    try await tx.execute("UPDATE unit_hold SET state = \(finish.state) WHERE correlation_id = \(correlationId)")
                    if let late = finish.lateSpend { events.append(AuditChain.Prepared(late)) }
                    usage = finish.recorded(usage)
                }
            }
            if let usage { try await Self.insert(usage, tx) }
            try await Self.append(events, tx, keys: keys)
        }
    }

    public func lapseUnitHolds(heldBeforeMillis: Int64) async throws -> Int {
        // A bounded batch per transaction, as for purged claims.
        try await StoreRetention.inBatches { try await lapseUnitHolds(heldBeforeMillis: heldBeforeMillis, limit: StoreRetention.purgeBatch) }
    }

    private func lapseUnitHolds(heldBeforeMillis: Int64, limit: Int) async throws -> Int {
        let now = clock.nowMillis(), keys = auditKeys
        return try await database.write { tx in
            var lapsed: [UnitHold] = []
            for row in try await tx.rows("""
                UPDATE unit_hold SET state = \(PackageUnits.lapsedHoldState) WHERE correlation_id IN (
                    SELECT correlation_id FROM unit_hold WHERE state = 'held' AND at_ms < \(heldBeforeMillis) LIMIT \(limit))
                RETURNING correlation_id, client_id, package, units
                """) {
                let hold = UnitHold(correlationId: try row.get("correlation_id"), clientId: try row.get("client_id"), package: try row.get("package"),
                                    units: try row.get("units"))
                if let balance = try await Self.balance(client: hold.clientId, package: hold.package, tx) {
                    try await Self.setBalance(client: hold.clientId, package: hold.package, unit: nil,
                                              to: PackageUnits.afterCredit(balance: balance, units: hold.units), now: now, tx)
                }
                lapsed.append(hold)
            }
            try await Self.append(lapsed.map { PackageUnits.lapsedEvent($0, atMillis: now) }, tx, keys: keys)
            return lapsed.count
        }
    }

    static func record(_ metering: MeteringRecord, now: Int64, _ tx: PostgresTransaction) async throws {
        try await insert(metering.usage, tx)
        guard let grant = metering.grant else { return }
        let granted = try await tx.count("""
            INSERT INTO package_grant (correlation_id, client_id, package, unit, units, at_ms)
            VALUES (\(metering.usage.correlationId), \(grant.clientId), \(grant.package), \(grant.unit), \(grant.units), \(now))
            ON CONFLICT DO NOTHING RETURNING 1
            """)
        guard granted == 1 else { return }
        // The purchasing request spends its own consumption from the units it bought.
        let balance = try await balance(client: grant.clientId, package: grant.package, tx) ?? 0
        try await setBalance(client: grant.clientId, package: grant.package, unit: grant.unit,
                             to: PackageUnits.afterGrant(balance: balance, granted: grant.units, consumed: metering.usage.quantity), now: now, tx)
    }

    /// A package balance; nil when the client never had one.
    static func balance(client: String, package: String, _ tx: PostgresTransaction) async throws -> Int? {
        try await tx.value("SELECT balance FROM package_balance WHERE client_id = \(client) AND package = \(package)", as: Int.self)
    }

    /// Writes a balance Core computed from the one read in the same transaction. `unit` creates the row when
    /// there is none (a purchase, a credit); without it only an existing row changes.
    static func setBalance(client: String, package: String, unit: String?, to balance: Int, now: Int64, _ tx: PostgresTransaction) async throws {
        if let unit {
            try await tx.execute("""
                INSERT INTO package_balance (client_id, package, unit, balance, updated_at) VALUES (\(client), \(package), \(unit), \(balance), \(now))
                ON CONFLICT (client_id, package) DO UPDATE SET balance = excluded.balance, updated_at = excluded.updated_at
                """)
        } else {
            try await tx.execute("""
                UPDATE package_balance SET balance = \(balance), updated_at = \(now) WHERE client_id = \(client) AND package = \(package)
                """)
        }
    }

    static func insert(_ usage: UsageEvent, _ tx: PostgresTransaction) async throws {
        _ = try await tx.run(UsageInsertStatement(usage: usage))
    }

    public func usage(clientId: String?, fromMillis: Int64, toMillis: Int64) async throws -> [UsageSummary] {
        try await database.read(snapshot: true) { tx in
            var report = UsageReport()
            for row in try await tx.rows("""
                SELECT resource, unit, quantity, amount, asset FROM usage_event u
                WHERE u.at_ms >= \(fromMillis) AND u.at_ms < \(toMillis) AND (\(clientId)::text IS NULL OR u.client_id = \(clientId))
                """) {
                report.add(resource: try row.get("resource"), unit: try row.get("unit"), quantity: try row.get("quantity"),
                           amount: try row.get("amount"), asset: try row.get("asset"))
            }
            // Refunds of the flows in the period, whenever they were recorded, so the report nets them out.
            for row in try await tx.rows("""
                SELECT u.resource, u.unit, r.kind, r.amount, r.asset FROM refund r JOIN usage_event u ON u.correlation_id = r.correlation_id
                WHERE u.at_ms >= \(fromMillis) AND u.at_ms < \(toMillis) AND (\(clientId)::text IS NULL OR u.client_id = \(clientId))
                """) {
                report.addRefund(resource: try row.get("resource"), unit: try row.get("unit"), kind: try row.get("kind"),
                                 amount: try row.get("amount"), asset: try row.get("asset"))
            }
            return report.summaries
        }
    }

    public func packageBalances(clientId: String) async throws -> [String: Int] {
        try await database.read { tx in
            var balances: [String: Int] = [:]
            for row in try await tx.rows("SELECT package, balance FROM package_balance WHERE client_id = \(clientId)") {
                balances[try row.get("package")] = try row.get("balance")
            }
            return balances
        }
    }
}
