import PostgresNIO
import TollgateCore

extension PostgresStore {
    /// How a global incident is stored in `incident.scope`; route incidents store the resource id.
    static let globalScope = ControlsSnapshot.globalScope

    /// The channel a change of revocations or incidents is announced on (`NOTIFY`, sent when the change commits), so
    /// every instance listening reloads its controls at once instead of at its next poll.
    public static let controlsChannel = "tollgate_controls"

    public func loadControls() async throws -> ControlsSnapshot {
        try await database.read(snapshot: true) { tx in
            var snapshot = ControlsSnapshot()
            for row in try await tx.rows("SELECT kind, subject, reason FROM revocation WHERE lifted_at IS NULL") {
                snapshot.addRevocation(kind: try row.get("kind"), subject: try row.get("subject"), reason: try row.get("reason"))
            }
            for row in try await tx.rows("SELECT id, scope, reason, at FROM incident WHERE ended_at IS NULL") {
                snapshot.addIncident(Incident(id: try row.get("id"), reason: try row.get("reason"), sinceMillis: try row.get("at")),
                                     scope: try row.get("scope"))
            }
            return snapshot
        }
    }

    public func revoke(kind: RevocationKind, subject: String, reason: String, actor: String) async throws {
        let subject = kind.normalized(subject), now = clock.nowMillis(), keys = auditKeys
        try await database.write { tx in
            try await tx.execute("""
                INSERT INTO revocation (kind, subject, reason, actor, at) VALUES (\(kind.rawValue), \(subject), \(reason), \(actor), \(now))
                ON CONFLICT (kind, subject) WHERE lifted_at IS NULL DO UPDATE SET reason = excluded.reason, actor = excluded.actor, at = excluded.at
                """)
            try await Self.append([AdminEvent.make("revoke", actor: actor, timeMillis: now,
                                                   details: ["kind": kind.rawValue, "subject": subject, "reason": reason])], tx, keys: keys)
            try await Self.announceControls(tx)
        }
    }

    @discardableResult
    public func unrevoke(kind: RevocationKind, subject: String, actor: String) async throws -> Bool {
        let subject = kind.normalized(subject), now = clock.nowMillis(), keys = auditKeys
        return try await database.write { tx in
            let lifted = try await tx.count("""
                UPDATE revocation SET lifted_by = \(actor), lifted_at = \(now) WHERE kind = \(kind.rawValue) AND subject = \(subject) AND lifted_at IS NULL
                RETURNING 1
                """)
            guard lifted > 0 else { return false }
            try await Self.append([AdminEvent.make("unrevoke", actor: actor, timeMillis: now, details: ["kind": kind.rawValue, "subject": subject])],
                                  tx, keys: keys)
            try await Self.announceControls(tx)
            return true
        }
    }

    public func startIncident(scope: String?, reason: String, actor: String) async throws -> Incident {
        let stored = scope ?? Self.globalScope, now = clock.nowMillis(), keys = auditKeys
        return try await database.write { tx in
            if let current = try await Self.incidentInForce(stored, tx) { return current }
            let incident = Incident(id: AdminEvent.incidentId(), reason: reason, sinceMillis: now)
            try await tx.execute("""
                INSERT INTO incident (id, scope, reason, actor, at) VALUES (\(incident.id), \(stored), \(reason), \(actor), \(incident.sinceMillis))
                """)
            try await Self.append([AdminEvent.make("incident_on", actor: actor, timeMillis: incident.sinceMillis, resource: scope,
                                                   details: ["scope": stored, "incident": incident.id, "reason": reason])], tx, keys: keys)
            try await Self.announceControls(tx)
            return incident
        }
    }

    public func endIncident(scope: String?, actor: String) async throws -> Incident? {
        let stored = scope ?? Self.globalScope, now = clock.nowMillis(), keys = auditKeys
        return try await database.write { tx in
            guard let incident = try await Self.incidentInForce(stored, tx) else { return nil }
            try await tx.execute("UPDATE incident SET ended_by = \(actor), ended_at = \(now) WHERE id = \(incident.id)")
            try await Self.append([AdminEvent.make("incident_off", actor: actor, timeMillis: now, resource: scope,
                                                   details: ["scope": stored, "incident": incident.id, "reason": incident.reason])], tx, keys: keys)
            try await Self.announceControls(tx)
            return incident
        }
    }

    public func spend(client: String?, payer: String?) async throws -> SpendSummary {
        try await database.read { tx in
            var count = 0
            var totals: [SpendKey: String] = [:]
            // Amounts are uint256 decimal TEXT: summed here as decimal strings, never as floating point.
            // Payer addresses arrive in whatever case the proof used; they are compared case-insensitively.
            for row in try await tx.rows("""
                SELECT network, lower(asset) AS asset, amount FROM payment
                WHERE (\(client)::text IS NULL OR client_id = \(client)) AND (\(payer?.lowercased())::text IS NULL OR lower(payer) = \(payer?.lowercased()))
                """) {
                let key = SpendKey(network: try row.get("network"), asset: try row.get("asset"))
                guard let sum = DecimalSum.add(totals[key] ?? "0", try row.get("amount")) else { continue }
                totals[key] = sum
                count += 1
            }
            let ordered = totals.sorted { ($0.key.network, $0.key.asset) < ($1.key.network, $1.key.asset) }
            return SpendSummary(count: count, totals: ordered.map { .init(network: $0.key.network, asset: $0.key.asset, amount: $0.value) })
        }
    }

    static func incidentInForce(_ scope: String, _ tx: PostgresTransaction) async throws -> Incident? {
        try await tx.row("SELECT id, reason, at FROM incident WHERE scope = \(scope) AND ended_at IS NULL")
            .map { Incident(id: try $0.get("id"), reason: try $0.get("reason"), sinceMillis: try $0.get("at")) }
    }

    /// Queued in the transaction, delivered to the listeners when it commits (never for a rolled-back change).
    static func announceControls(_ tx: PostgresTransaction) async throws {
        try await tx.execute("SELECT pg_notify(\(controlsChannel), 'changed')")
    }
}

/// One asset of the spend summary.
private struct SpendKey: Hashable {
    var network: String
    var asset: String
}

extension PostgresStore {
    /// Listens on `controlsChannel` on one pooled connection for as long as the task runs; after the connection is lost
    /// it listens again a second later, and calls `onChange` once on every (re)start so nothing announced meanwhile is
    /// missed.
    public func followControlChanges(_ onChange: @escaping @Sendable () async -> Void) async {
        let client = database.client, logger = database.logger
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.controlsChannel) { notifications in
                        await onChange()
                        for try await _ in notifications { await onChange() }
                    }
                }
            } catch {
                if !Task.isCancelled {
                    logger.debug("not listening for control changes; polling meanwhile", metadata: ["tollgate.error": "\(PostgresExecutor.describe(error))"])
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
