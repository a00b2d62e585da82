import Foundation
import Logging
import PostgresNIO
import TollgateCore

/// Applies `PostgresMigrations.all` to a database, each version once, however many instances start at once.
///
/// Everything runs in one transaction under `pg_advisory_xact_lock`: a second instance waits for the first to commit,
/// then finds every version recorded in `tollgate_migrations` and applies nothing. A failing statement rolls the
/// whole run back.
public enum PostgresMigrator {
    /// The advisory lock key taken by every migration run ("tollgate" in ASCII, as a 64-bit integer).
    public static let lockKey: Int64 = 0x746F_6C6C_6761_7465

    /// Applies the migrations not yet recorded; returns the versions applied now, in order (empty: up to date).
    /// Throws `storeUnavailable` naming the version when PostgreSQL refuses a statement or cannot be reached.
    @discardableResult
    public static func migrate(client: PostgresClient, logger: Logger,
                               migrations: [PostgresMigration] = PostgresMigrations.all) async throws -> [String] {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                // Whatever the server's default: under repeatable read the snapshot would be taken by the lock's statement,
                // before the wait, and a second instance would not see the versions the first one recorded.
                try await connection.query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", logger: logger)
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS tollgate_migrations (version TEXT PRIMARY KEY NOT NULL, applied_at BIGINT NOT NULL)
                    """, logger: logger)
                var done = Set<String>()
                for try await version in try await connection.query("SELECT version FROM tollgate_migrations", logger: logger)
                    .decode(String.self) {
                    done.insert(version)
                }
                var applied: [String] = []
                for migration in migrations where !done.contains(migration.version) {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    try await connection.query(
                        "INSERT INTO tollgate_migrations (version, applied_at) VALUES (\(migration.version), \(now))", logger: logger)
                    logger.info("PostgreSQL migration applied", metadata: ["tollgate.migration": "\(migration.version)"])
                    applied.append(migration.version)
                }
                return applied
            }
        } catch let error as TollgateError {
            throw error
        } catch {
            throw TollgateError(.storeUnavailable, "PostgreSQL migrations failed: \(String(reflecting: error))")
        }
    }

    /// The versions recorded in `tollgate_migrations`, oldest first (empty when the table does not exist yet).
    public static func appliedVersions(client: PostgresClient, logger: Logger) async throws -> [String] {
        let exists = try await client.query("SELECT to_regclass('tollgate_migrations') IS NOT NULL", logger: logger)
            .decode(Bool.self).first(where: { _ in true }) ?? false
        guard exists else { return [] }
        var versions: [String] = []
        for try await version in try await client.query("SELECT version FROM tollgate_migrations ORDER BY applied_at, version", logger: logger)
            .decode(String.self) {
            versions.append(version)
        }
        return versions
    }
}
