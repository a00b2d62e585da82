import GRDB
import TollgateCore

extension SQLiteStore {
    /// How a global incident is stored in `incident.scope`; route incidents store the resource id.
    static let globalScope = ControlsSnapshot.globalScope

    public func loadControls() async throws -> ControlsSnapshot {
        try await writer.read { db in
            var snapshot = ControlsSnapshot()
            for row in try Row.fetchAll(db, sql: "SELECT kind, subject, reason FROM revocation WHERE lifted_at IS NULL") {
                snapshot.addRevocation(kind: row["kind"], subject: row["subject"], reason: row["reason"])
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, scope, reason, at FROM incident WHERE ended_at IS NULL") {
                snapshot.addIncident(Incident(id: row["id"], reason: row["reason"], sinceMillis: row["at"]), scope: row["scope"])
            }
            return snapshot
        }
    }

    public func revoke(kind: RevocationKind, subject: String, reason: String, actor: String) async throws {
        let subject = kind.normalized(subject)
        try await write { db in
            let now = clock.nowMillis()
            try db.execute(sql: """
                INSERT INTO revocation (kind, subject, reason, actor, at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (kind, subject) WHERE lifted_at IS NULL DO UPDATE SET reason = excluded.reason, actor = excluded.actor, at = excluded.at
                """, arguments: [kind.rawValue, subject, reason, actor, now])
            try Self.append([AdminEvent.make("revoke", actor: actor, timeMillis: now,
                                             details: ["kind": kind.rawValue, "subject": subject, "reason": reason])], db, keys: auditKeys)
        }
    }

    @discardableResult
    public func unrevoke(kind: RevocationKind, subject: String, actor: String) async throws -> Bool {
        let subject = kind.normalized(subject)
        return try await write { db in
            let now = clock.nowMillis()
            try db.execute(sql: "UPDATE revocation SET lifted_by = ?, lifted_at = ? WHERE kind = ? AND subject = ? AND lifted_at IS NULL",
                           arguments: [actor, now, kind.rawValue, subject])
            guard db.changesCount > 0 else { return false }
            try Self.append([AdminEvent.make("unrevoke", actor: actor, timeMillis: now, details: ["kind": kind.rawValue, "subject": subject])], db, keys: auditKeys)
            return true
        }
    }

    public func startIncident(scope: String?, reason: String, actor: String) async throws -> Incident {
        let stored = scope ?? Self.globalScope
        return try await write { db in
            if let current = try Self.incidentInForce(stored, db) { return current }
            let incident = Incident(id: AdminEvent.incidentId(), reason: reason, sinceMillis: clock.nowMillis())
            try db.execute(sql: "INSERT INTO incident (id, scope, reason, actor, at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [incident.id, stored, reason, actor, incident.sinceMillis])
            try Self.append([AdminEvent.make("incident_on", actor: actor, timeMillis: incident.sinceMillis, resource: scope,
                                             details: ["scope": stored, "incident": incident.id, "reason": reason])], db, keys: auditKeys)
            return incident
        }
    }

    public func endIncident(scope: String?, actor: String) async throws -> Incident? {
        let stored = scope ?? Self.globalScope
        return try await write { db in
            guard let incident = try Self.incidentInForce(stored, db) else { return nil }
            let now = clock.nowMillis()
            try db.execute(sql: "UPDATE incident SET ended_by = ?, ended_at = ? WHERE id = ?", arguments: [actor, now, incident.id])
            try Self.append([AdminEvent.make("incident_off", actor: actor, timeMillis: now, resource: scope,
                                             details: ["scope": stored, "incident": incident.id, "reason": incident.reason])], db, keys: auditKeys)
            return incident
        }
    }

    public func spend(client: String?, payer: String?) async throws -> SpendSummary {
        let (sql, arguments) = Self.spendQuery(client: client, payer: payer)
        return try await writer.read { db in
            var count = 0
            var totals: [SpendKey: String] = [:]
            // Amounts are uint256 decimal TEXT: summed here as decimal strings, never by SQLite (REAL).
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let key = SpendKey(network: row["network"], asset: row["asset"])
                let amount: String = row["amount"]
                guard let sum = DecimalSum.add(totals[key] ?? "0", amount) else { continue }
                totals[key] = sum
                count += 1
            }
            let ordered = totals.sorted { ($0.key.network, $0.key.asset) < ($1.key.network, $1.key.asset) }
            return SpendSummary(count: count, totals: ordered.map { .init(network: $0.key.network, asset: $0.key.asset, amount: $0.value) })
        }
    }

    /// The ledger rows of a client, a payer (any case), both or neither.
    static func spendQuery(client: String?, payer: String?) -> (sql: String, arguments: StatementArguments) {
        var conditions: [String] = []
        var values: [String] = []
        if let client {
            // With a payer too, `+` keeps SQLite from choosing the client's index (every row of the client) over the payer's.
            conditions.append(payer == nil ? "client_id = ?" : "+client_id = ?")
            values.append(client)
        }
        if let payer {
            // Payer addresses arrive in whatever case the proof used; compare them case-insensitively.
            conditions.append("proof_key_id IN (SELECT id FROM proof_key WHERE lower(payer) = ?)")
            values.append(payer.lowercased())
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return ("SELECT network, lower(asset) AS asset, amount FROM payment \(filter)", StatementArguments(values))
    }

    public func auditEvents(stage: AuditEvent.Stage, limit: Int) async throws -> [RecordedAuditEvent] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_event WHERE stage = ? ORDER BY seq DESC LIMIT ?", arguments: [stage.rawValue, limit])
                .reversed().map(Self.recorded)
        }
    }

    static func incidentInForce(_ scope: String, _ db: Database) throws -> Incident? {
        try Row.fetchOne(db, sql: "SELECT id, reason, at FROM incident WHERE scope = ? AND ended_at IS NULL", arguments: [scope])
            .map { Incident(id: $0["id"], reason: $0["reason"], sinceMillis: $0["at"]) }
    }
}

/// One asset of the spend summary.
private struct SpendKey: Hashable {
    var network: String
    var asset: String
}
