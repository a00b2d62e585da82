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
        let timeout = Duration.seconds(configuration.operationTimeoutSeconds)
        let committer = PostgresGroupCommitter(client: client, logger: logger, lockKey: PostgresExecutor.writeLockKey, timeout: timeout)
        let executor = PostgresExecutor(client: client, logger: logger, timeout: timeout, monitor: monitor, runner: runner, committer: committer)
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

    /// Runs `body`, throwing `storeUnavailable` once `timeout` has passed. The caller is answered then even when `body`
    /// cannot be interrupted (postgres-nio waits for a pooled connection until one can be made): `body` is cancelled and
    /// left to end on its own, so whatever it does late must be safe to do (a read; a batch that checks it was not
    /// abandoned before it writes: `PostgresGroupCommitter`).
    static func withTimeout<Value: Sendable>(_ timeout: Duration, _ message: String,
                                             _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let answered = Latch()
        let timer = TaskSlot()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let work = Task {
                let result: Result<Value, any Error>
                do {
                    result = .success(try await body())
                } catch {
                    result = .failure(error)
                }
                // The timer ends with the work, so an answered operation leaves no task sleeping behind it.
                timer.cancel()
                if answered.trip() { continuation.resume(with: result) }
            }
            timer.hold(Task {
                try await Task.sleep(for: timeout)
                guard answered.trip() else { return }
                continuation.resume(throwing: TollgateError(.storeUnavailable, "\(message) within \(timeout)"))
                work.cancel()
            })
        }
    }
}

/// A task that may be cancelled before it is even stored (then it is cancelled as it arrives).
final class TaskSlot: Sendable {
    private let state = Mutex<(task: Task<Void, any Error>?, cancelled: Bool)>((nil, false))

    func hold(_ task: Task<Void, any Error>) {
        let cancel = state.withLock { state -> Bool in
            state.task = task
            return state.cancelled
        }
        if cancel { task.cancel() }
    }

    func cancel() {
        let task = state.withLock { state -> Task<Void, any Error>? in
            state.cancelled = true
            return state.task
        }
        task?.cancel()
    }
}

/// Set once; tells whether it was the one setting it.
final class Latch: Sendable {
    private let state = Mutex(false)

    /// True for the first caller only.
    func trip() -> Bool {
        state.withLock { tripped in
            defer { tripped = true }
            return !tripped
        }
    }

    var isTripped: Bool { state.withLock { $0 } }
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
