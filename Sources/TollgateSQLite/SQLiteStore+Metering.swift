import Foundation
import GRDB
import TollgateCore

extension SQLiteStore {
    /// Usage events (one per flow), package balances with the holds and grants that move them, and refunds.
    /// A balance can never go below zero: the CHECK makes a bug fail loudly instead of giving units away.
    static func migrateMetering(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE usage_event (
                correlation_id TEXT PRIMARY KEY NOT NULL, client_id TEXT NOT NULL, payer TEXT NOT NULL, resource TEXT NOT NULL,
                unit TEXT NOT NULL, quantity INTEGER NOT NULL, paid_quantity INTEGER NOT NULL, source TEXT NOT NULL,
                amount TEXT NOT NULL, asset TEXT NOT NULL, at_ms INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX usage_event_client ON usage_event (client_id, at_ms);
            CREATE INDEX usage_event_time ON usage_event (at_ms);
            CREATE TABLE package_balance (
                client_id TEXT NOT NULL, package TEXT NOT NULL, unit TEXT NOT NULL, balance INTEGER NOT NULL CHECK (balance >= 0),
                updated_at INTEGER NOT NULL, PRIMARY KEY (client_id, package)
            ) WITHOUT ROWID;
            CREATE TABLE package_grant (
                correlation_id TEXT PRIMARY KEY NOT NULL, client_id TEXT NOT NULL, package TEXT NOT NULL, unit TEXT NOT NULL,
                units INTEGER NOT NULL, at_ms INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE unit_hold (
                correlation_id TEXT PRIMARY KEY NOT NULL, client_id TEXT NOT NULL, package TEXT NOT NULL, units INTEGER NOT NULL,
                state TEXT NOT NULL, at_ms INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE refund (
                id TEXT PRIMARY KEY NOT NULL, correlation_id TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
                client_id TEXT NOT NULL, payer TEXT NOT NULL, resource TEXT NOT NULL, amount TEXT NOT NULL, asset TEXT NOT NULL,
                network TEXT NOT NULL, unit TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL, automatic INTEGER NOT NULL,
                created_at INTEGER NOT NULL, closed_at INTEGER, payout_tx TEXT
            ) WITHOUT ROWID;
            CREATE INDEX refund_flow ON refund (correlation_id);
            CREATE INDEX refund_state ON refund (state, created_at);
            """)
    }

    public func recordDelivery(_ key: ProofKey, response: StoredResponse?, metering: MeteringRecord?, delivery: DeliveryToken,
                               events: [AuditEvent]) async throws {
        let events = events.map(AuditChain.Prepared.init)
        try await write { db in
            let now = clock.nowMillis()
            let flowKey = response == nil ? try Self.recordedProofKeyId(key, db) : try Self.flowProofKeyId(key, db)
            if let flowKey {
                if let response { try Self.storeResponse(response, key: key, proofKeyId: flowKey, ready: true, db) }
                // Refused after the statement ran, it is undone with the rest of this write: no read before it.
                try RefundPolicy.checkDeliverable(try Self.settleIntent(flowKey, state: nil, transaction: nil, delivery: delivery, now: now, db))
            }
            if let metering { try Self.record(metering, now: now, db) }
            try Self.append(events, db, keys: auditKeys)
        }
    }

    public func holdUnits(_ hold: UnitHold, events: [AuditEvent]) async throws -> UnitHoldOutcome {
        let events = events.map(AuditChain.Prepared.init)
        return try await write { db in
            let now = clock.nowMillis()
            let balance = try Self.balance(client: hold.clientId, package: hold.package, db)
            guard let remaining = PackageUnits.afterHold(balance: balance ?? 0, units: hold.units) else { return .insufficient(balance: balance ?? 0) }
            // A hold needs a balance to hold from (a package bought before): zero units from none is still none.
            guard balance != nil else { return .insufficient(balance: 0) }
            try Self.setBalance(client: hold.clientId, package: hold.package, unit: nil, to: remaining, now: now, db)
            try db.run(sql: """
                INSERT INTO unit_hold (correlation_id, client_id, package, units, state, at_ms) VALUES (?, ?, ?, ?, 'held', ?)
                """, arguments: [hold.correlationId, hold.clientId, hold.package, hold.units, now])
            try Self.append(events, db, keys: auditKeys)
            return .held(remaining: remaining)
        }
    }

    public func finishUnits(correlationId: String, consumed: Int, usage: UsageEvent?, events: [AuditEvent]) async throws {
        let events = events.map(AuditChain.Prepared.init)
        try await write { db in
            let now = clock.nowMillis()
            var events = events, usage = usage
            if let row = try Row.fetchOne(cached: db, sql: "SELECT client_id, package, units, state FROM unit_hold WHERE correlation_id = ?",
                                          arguments: [correlationId]) {
                let hold = UnitHold(correlationId: correlationId, clientId: row["client_id"], package: row["package"], units: row["units"])
                let balance = try Self.balance(client: hold.clientId, package: hold.package, db)
                if let finish = PackageUnits.finishing(hold, state: row["state"], balance: balance, consumed: consumed, atMillis: now) {
                    if let after = finish.balance { try Self.setBalance(client: hold.clientId, package: hold.package, unit: nil, to: after, now: now, db) }
                    try db.run(sql: "UPDATE unit_hold SET state = ? WHERE correlation_id = ?", arguments: [finish.state, correlationId])
                    if let late = finish.lateSpend { events.append(AuditChain.Prepared(late)) }
                    usage = finish.recorded(usage)
                }
            }
            if let usage { try Self.insert(usage, db) }
            try Self.append(events, db, keys: auditKeys)
        }
    }

    public func lapseUnitHolds(heldBeforeMillis: Int64) async throws -> Int {
        // A bounded batch per transaction, as for purged claims.
        try await StoreRetention.inBatches { try await lapseUnitHolds(heldBeforeMillis: heldBeforeMillis, limit: StoreRetention.purgeBatch) }
    }

    private func lapseUnitHolds(heldBeforeMillis: Int64, limit: Int) async throws -> Int {
        let keys = auditKeys
        return try await write { db in
            let now = clock.nowMillis()
            let lapsed = try Row.fetchAll(cached: db, sql: """
                SELECT correlation_id, client_id, package, units FROM unit_hold WHERE state = 'held' AND at_ms < ? LIMIT ?
                """, arguments: [heldBeforeMillis, limit]).map {
                UnitHold(correlationId: $0["correlation_id"], clientId: $0["client_id"], package: $0["package"], units: $0["units"])
            }
            for hold in lapsed {
                if let balance = try Self.balance(client: hold.clientId, package: hold.package, db) {
                    try Self.setBalance(client: hold.clientId, package: hold.package, unit: nil,
                                        to: PackageUnits.afterCredit(balance: balance, units: hold.units), now: now, db)
                }
                try db.run(sql: "UPDATE unit_hold SET state = ? WHERE correlation_id = ?", arguments: [PackageUnits.lapsedHoldState, hold.correlationId])
            }
            try Self.append(lapsed.map { PackageUnits.lapsedEvent($0, atMillis: now) }, db, keys: keys)
            return lapsed.count
        }
    }

    static func record(_ metering: MeteringRecord, now: Int64, _ db: Database) throws {
        try insert(metering.usage, db)
        guard let grant = metering.grant else { return }
        try db.run(sql: """
            INSERT OR IGNORE INTO package_grant (correlation_id, client_id, package, unit, units, at_ms) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [metering.usage.correlationId, grant.clientId, grant.package, grant.unit, grant.units, now])
        guard db.changesCount == 1 else { return }
        // The purchasing request spends its own consumption from the units it bought.
        let balance = try balance(client: grant.clientId, package: grant.package, db) ?? 0
        try setBalance(client: grant.clientId, package: grant.package, unit: grant.unit,
                       to: PackageUnits.afterGrant(balance: balance, granted: grant.units, consumed: metering.usage.quantity), now: now, db)
    }

    /// A package balance; nil when the client never had one.
    static func balance(client: String, package: String, _ db: Database) throws -> Int? {
        try Int.fetchOne(cached: db, sql: "SELECT balance FROM package_balance WHERE client_id = ? AND package = ?", arguments: [client, package])
    }

    /// Writes a balance Core computed from the one read in the same transaction. `unit` creates the row when
    /// there is none (a purchase, a credit); without it only an existing row changes.
    static func setBalance(client: String, package: String, unit: String?, to balance: Int, now: Int64, _ db: Database) throws {
        if let unit {
            try db.run(sql: """
                INSERT INTO package_balance (client_id, package, unit, balance, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (client_id, package) DO UPDATE SET balance = excluded.balance, updated_at = excluded.updated_at
                """, arguments: [client, package, unit, balance, now])
        } else {
            try db.run(sql: "UPDATE package_balance SET balance = ?, updated_at = ? WHERE client_id = ? AND package = ?",
                           arguments: [balance, now, client, package])
        }
    }

    static func insert(_ usage: UsageEvent, _ db: Database) throws {
        try db.runRaw(sql: """
            INSERT OR IGNORE INTO usage_event (correlation_id, client_id, payer, resource, unit, quantity, paid_quantity, source, amount, asset, at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, usage.correlationId, usage.clientId, usage.payer, usage.resource, usage.unit, usage.quantity, usage.paidQuantity,
                      usage.source.rawValue, usage.amount, usage.asset, usage.atMillis)
    }
}

extension SQLiteStore {
    public func usage(clientId: String?, fromMillis: Int64, toMillis: Int64) async throws -> [UsageSummary] {
        try await writer.read { db in
            // The same filter on usage_event for both queries (aliased `u`).
            var filter = "u.at_ms >= ? AND u.at_ms < ?"
            var arguments: StatementArguments = [fromMillis, toMillis]
            if let clientId {
                filter += " AND u.client_id = ?"
                arguments += [clientId]
            }
            var report = UsageReport()
            let rows = try Row.fetchCursor(db, sql: "SELECT resource, unit, quantity, amount, asset FROM usage_event u WHERE \(filter)",
                                           arguments: arguments)
            while let row = try rows.next() {
                report.add(resource: row["resource"], unit: row["unit"], quantity: row["quantity"], amount: row["amount"], asset: row["asset"])
            }
            // Refunds of the flows in the period, whenever they were recorded, so the report nets them out.
            let refunds = try Row.fetchCursor(db, sql: """
                SELECT u.resource, u.unit, r.kind, r.amount, r.asset FROM refund r JOIN usage_event u ON u.correlation_id = r.correlation_id
                WHERE \(filter)
                """, arguments: arguments)
            while let row = try refunds.next() {
                report.addRefund(resource: row["resource"], unit: row["unit"], kind: row["kind"], amount: row["amount"], asset: row["asset"])
            }
            return report.summaries
        }
    }

    public func packageBalances(clientId: String) async throws -> [String: Int] {
        try await writer.read { db in
            Dictionary(try Row.fetchAll(cached: db, sql: "SELECT package, balance FROM package_balance WHERE client_id = ?", arguments: [clientId])
                .map { ($0["package"] as String, $0["balance"] as Int) }) { first, _ in first }
        }
    }
}
