import Foundation
import Logging
import PostgresNIO
import Testing
import TollgateCore
import TollgatePostgres

/// A fresh database per test on the cluster named by `TOLLGATE_TEST_POSTGRES_URL`, dropped afterwards.
/// Without the variable the test fails, saying how to start a cluster: PostgreSQL tests are never skipped.
enum TestDatabase {
    static let variable = "TOLLGATE_TEST_POSTGRES_URL"
    static let logger = Logger(label: "tollgate.postgres.tests")

    /// The cluster's configuration, or a thrown error telling how to get one.
    static func cluster() throws -> PostgresStoreConfiguration {
        guard let url = ProcessInfo.processInfo.environment[variable], !url.isEmpty else {
            throw TollgateError(.invalidConfiguration, """
                \(variable) is not set: the PostgreSQL tests need a cluster. Start one with `scripts/postgres-cluster.sh start` \
                and run `\(variable)=$(scripts/postgres-cluster.sh url) swift test --filter TollgatePostgresTests` \
                (scripts/test.sh does both)
                """)
        }
        return try PostgresStoreConfiguration(url: url)
    }

    /// Runs `body` with a running client on a new, empty database, of `poolSize` connections and `longHeld` more (as a
    /// store's client has).
    static func withFresh<Result: Sendable>(poolSize: Int = 4, longHeld: Int = PostgresClients.longHeldConnections,
                                            _ body: @Sendable (PostgresClient, PostgresStoreConfiguration) async throws -> Result) async throws -> Result {
        let cluster = try cluster()
        let fresh = try await create(poolSize: poolSize)
        do {
            let client = try PostgresClients.make(fresh, logger: logger, longHeld: longHeld)
            let result = try await PostgresClients.withRunning(client) { client in try await body(client, fresh) }
            try await drop(cluster, name: fresh.database)
            return result
        } catch {
            try? await drop(cluster, name: fresh.database)
            throw error
        }
    }

    static func drop(_ cluster: PostgresStoreConfiguration, name: String) async throws {
        try await admin(cluster) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
        }
    }

    static func admin(_ cluster: PostgresStoreConfiguration, _ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        var configuration = cluster
        configuration.poolSize = 1
        let client = try PostgresClients.make(configuration, logger: logger)
        try await PostgresClients.withRunning(client, body)
    }

    /// Makes every claim's lease `millis` older, as if that long had passed without a renewal: what a stopped owner
    /// leaves, without a test waiting out the grace.
    static func ageLeases(_ configuration: PostgresStoreConfiguration, byMillis millis: Int64) async throws {
        try await admin(configuration) { client in
            try await client.query("UPDATE reservation SET lease_at = lease_at - \(millis)", logger: logger)
        }
    }

    /// The tables of the public schema, sorted.
    static func tables(_ client: PostgresClient) async throws -> [String] {
        var names: [String] = []
        for try await name in try await client.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", logger: logger).decode(String.self) {
            names.append(name)
        }
        return names
    }
}

extension TestDatabase {
    /// Creates an empty database on the test cluster and returns its configuration (dropped by `dropAll`).
    static func create(poolSize: Int = 8) async throws -> PostgresStoreConfiguration {
        let cluster = try cluster()
        let name = "tollgate_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await admin(cluster) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        var configuration = cluster
        configuration.database = String(name)
        configuration.poolSize = poolSize
        return configuration
    }

    /// A store on a new, empty database, migrated; `settlingGraceSeconds` 0 treats every settling claim as abandoned
    /// (one instance that restarted).
    static func store(auditKeys: KeyRing? = nil, settlingGraceSeconds: Int = 0, clock: any GatewayClock = SystemClock())
        async throws -> (PostgresStore, PostgresStoreConfiguration) {
        var configuration = try await create()
        configuration.settlingGraceSeconds = settlingGraceSeconds
        return (try await PostgresStores.open(configuration, auditKeys: auditKeys, logger: logger, clock: clock), configuration)
    }
}
