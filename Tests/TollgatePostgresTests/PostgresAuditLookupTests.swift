import Foundation
import PostgresNIO
import Testing
import TollgateCore
@testable import TollgatePostgres

/// Support finds flows by payer, nonce and transaction through the audit log's lookup columns
/// (`3-audit-lookup-columns`): events written before the migration, by the SQL of that version, and events written after.
@Suite("PostgreSQL audit lookups")
struct PostgresAuditLookupTests {
    static let payer = "0x" + String(repeating: "Ab", count: 20)
    static let nonce = "0x" + String(repeating: "C1", count: 32)
    static let transaction = "0x" + String(repeating: "dE", count: 32)

    @Test func eventsOfAnEarlierVersionAndOfThisOneAreFoundByTheirKeys() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 0
        let earlier = [
            AuditEvent(correlationId: "tg_old_proof", timeMillis: 1, stage: .proof, outcome: .received,
                       details: ["payer": Self.payer, "nonce": Self.nonce]),
            AuditEvent(correlationId: "tg_old_settle", timeMillis: 2, stage: .settle, outcome: .ok, details: ["transaction": Self.transaction]),
            AuditEvent(correlationId: "tg_old_offer", timeMillis: 3, stage: .offer, outcome: .issued, details: ["price": "0.01"]),
        ]
        // The schema before the lookup columns, and three events as that version inserted them.
        let client = try PostgresClients.make(configuration, logger: TestDatabase.logger)
        try await PostgresClients.withRunning(client) { client in
            try await PostgresMigrator.migrate(client: client, logger: TestDatabase.logger,
                                               migrations: [PostgresMigrations.v1Schema, PostgresMigrations.v2SharedInstances])
            var previous = AuditChain.genesis
            for (index, event) in earlier.enumerated() {
                let hash = AuditChain.hash(previous: previous, event: event)
                try await client.query("""
                    INSERT INTO audit_event (seq, correlation_id, time_ms, stage, outcome, details, prev_hash, hash)
                    VALUES (\(Int64(index + 1)), \(event.correlationId), \(event.timeMillis), \(event.stage.rawValue),
                            \(event.outcome.rawValue), \(AuditEvent.detailsJSON(event.details)), \(previous), \(hash))
                    """, logger: TestDatabase.logger)
                previous = hash
            }
        }

        let store = try await PostgresStores.open(configuration, auditKeys: nil, logger: TestDatabase.logger, clock: SystemClock())
        defer { store.close() }
        let mixedCase = "0x" + Self.payer.dropFirst(2).uppercased()
        try await store.append([AuditEvent(correlationId: "tg_new_proof", timeMillis: 4, stage: .proof, outcome: .received,
                                           details: ["payer": mixedCase, "nonce": "0xfeed"])])

        let byPayer = try await store.flows(matching: try TraceKey(parsing: Self.payer), limit: 10)
        #expect(Set(byPayer.correlationIds) == ["tg_old_proof", "tg_new_proof"])
        #expect(byPayer.matchedAs == ["payer": ["audit_event"]])
        #expect(try await store.flows(matching: try TraceKey(parsing: Self.nonce), limit: 10).correlationIds == ["tg_old_proof"])
        let byTransaction = try await store.flows(matching: try TraceKey(parsing: "0x" + Self.transaction.dropFirst(2).uppercased()), limit: 10)
        #expect(byTransaction.correlationIds == ["tg_old_settle"] && byTransaction.matchedAs == ["transaction": ["audit_event"]])

        // The chain goes on across the migration, and the lookup indexes are partial, on the columns.
        let recorded = try await store.events(correlationId: "tg_new_proof")
        let head = earlier.reduce(AuditChain.genesis) { AuditChain.hash(previous: $0, event: $1) }
        #expect(recorded.map(\.seq) == [4] && recorded.first?.previousHash == head)
        let definitions = try await TestDatabase.indexDefinitions(configuration, table: "audit_event")
            .filter { $0.contains("audit_event_payer") || $0.contains("audit_event_nonce") || $0.contains("audit_event_transaction") }
        #expect(definitions.count == 3 && definitions.allSatisfy { $0.contains("IS NOT NULL") && !$0.contains("jsonb") }, "\(definitions)")
        try await TestDatabase.drop(try TestDatabase.cluster(), name: configuration.database)
    }
}

extension TestDatabase {
    /// The `CREATE INDEX` statements of a table, as PostgreSQL reports them.
    static func indexDefinitions(_ configuration: PostgresStoreConfiguration, table: String) async throws -> [String] {
        var own = configuration
        own.poolSize = 1
        let client = try PostgresClients.make(own, logger: logger)
        return try await PostgresClients.withRunning(client) { client in
            var definitions: [String] = []
            for try await definition in try await client.query("SELECT indexdef FROM pg_indexes WHERE tablename = \(table)", logger: logger)
                .decode(String.self) {
                definitions.append(definition)
            }
            return definitions
        }
    }
}
