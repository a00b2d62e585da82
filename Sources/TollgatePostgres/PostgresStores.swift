import Foundation
import Logging
import PostgresNIO
import Synchronization
import TollgateCore

/// Opens the shared store: the one way the rest of Tollgate gets a PostgreSQL store.
public enum PostgresStores {
    /// Connects, applies pending migrations when `configuration.migrateOnStart` (under the migration lock, so instances
    /// starting together apply each version once) or refuses an out-of-date database, and returns the store.
    ///
    /// The connection pool runs for as long as the process does (`PostgresStore.close()` stops it); it reconnects by
    /// itself after an outage.
    /// - Parameter auditKeys: the audit chain keys; every instance writing the database must use the same ones.
    public static func open(_ configuration: PostgresStoreConfiguration, auditKeys: KeyRing?, logger: Logger,
                            clock: any GatewayClock = SystemClock(),
                            environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> PostgresStore {
        let client = try PostgresClients.make(configuration, logger: logger, environment: environment)
        let runner = PostgresPoolRunner(client: client)
        let monitor = PostgresHealthMonitor(logger: logger)
        let executor = PostgresExecutor(client: client, logger: logger, timeout: .seconds(configuration.operationTimeoutSeconds), monitor: monitor,
                                        runner: runner)
        do {
            if configuration.migrateOnStart {
                try await withTimeout(executor.timeout * 4, "PostgreSQL at \(configuration.host):\(configuration.port) could not be reached") {
                    try await PostgresMigrator.migrate(client: client, logger: logger)
                }
            } else {
                let applied = try await withTimeout(executor.timeout, "PostgreSQL at \(configuration.host):\(configuration.port) could not be reached") {
                    try await PostgresMigrator.appliedVersions(client: client, logger: logger)
                }
                let pending = PostgresMigrations.all.map(\.version).filter { !applied.contains($0) }
                guard pending.isEmpty else {
                    throw TollgateError(.storeUnavailable, "the database lacks migrations \(pending.joined(separator: ", ")) and "
                        + "storage.postgres.migrate_on_start is false: run `tollgate migrate --config F` first")
                }
            }
        } catch {
            runner.stop()
            throw error
        }
        return PostgresStore(database: executor, auditKeys: auditKeys, clock: clock,
                             settlingGraceMillis: Int64(configuration.settlingGraceSeconds) * 1000)
    }

    static func withTimeout<Value: Sendable>(_ timeout: Duration, _ message: String,
                                             _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let value = try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let value else { throw TollgateError(.storeUnavailable, "\(message) within \(timeout)") }
        return value
    }
}

/// Runs the postgres-nio pool (`PostgresClient.run()`) for the store's lifetime: the store is opened by commands that
/// are not services (`tollgate refund`, `audit verify`) as well as by the gateway, so it owns its pool's task.
final class PostgresPoolRunner: Sendable {
    private let task: Mutex<Task<Void, Never>?>

    init(client: PostgresClient) {
        task = Mutex(Task { await client.run() })
    }

    func stop() {
        task.withLock { task in
            task?.cancel()
            task = nil
        }
    }

    deinit { stop() }
}

extension PostgresStore {
    /// Stops the connection pool; the store cannot be used afterwards.
    public func close() {
        database.runner.stop()
    }
}
