import Foundation
import Logging
import PostgresNIO
import Synchronization
import TollgateCore

/// Runs the store's reads and writes on the pool, with the three rules that make many instances one store:
///
/// - **One writer at a time, cluster-wide.** Every write transaction (a batch of this instance's concurrent writes,
///   `PostgresGroupCommitter`) first takes `writeLockKey`
///   (`pg_advisory_xact_lock`, released by its commit). The audit log is one hash chain, and nearly every write
///   appends to it, so writes are totally ordered anyway; holding the lock for the whole transaction also makes each
///   read-decide-write (a cap, a balance, a refund) atomic across instances exactly as it is in SQLite, with no
///   serialisation failures to retry. Reads take no lock.
/// - **Bounded waits.** An operation (a read, or a batch of writes) that has not finished after `timeout` (a database that went away, a pool that
///   cannot connect) throws `storeUnavailable`, which the journey answers with 503 + `Retry-After`: paid requests fail
///   closed instead of hanging. A write that timed out may still commit; the journey treats it as a crash in between
///   (the claim stays, the reconciler resolves it).
/// - **Retried conflicts.** A deadlock or serialisation failure (SQLSTATE 40P01, 40001) rolled the transaction back,
///   so it is run again, up to three times.
struct PostgresExecutor: Sendable {
    /// The advisory lock every write transaction holds ("tollgate-write" folded into 64 bits).
    static let writeLockKey: Int64 = 0x7467_7772_6974_6531

    let client: PostgresClient
    let logger: Logger
    let timeout: Duration
    let monitor: PostgresHealthMonitor
    /// Keeps the pool running for as long as the store is in use.
    let runner: PostgresPoolRunner
    /// Every write goes through it (one commit for the writes in flight together).
    let committer: PostgresGroupCommitter

    /// A write transaction under the cluster-wide write lock, group-committed with this instance's other writes.
    func write<Value: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> Value) async throws -> Value {
        let probe = try monitor.admit()
        defer { if probe { monitor.probeEnded() } }
        var attempt = 0
        while true {
            attempt += 1
            do {
                let value = try await committer.write(body)
                monitor.succeeded()
                return value
            } catch where attempt < 3 && Self.isRetriable(error) {
                logger.debug("PostgreSQL write retried", metadata: ["tollgate.error": "\(Self.describe(error))"])
            } catch {
                throw monitor.failed(error)
            }
        }
    }

    /// A read; `snapshot` runs it in one repeatable-read transaction (several statements, one view of the data).
    func read<Value: Sendable>(snapshot: Bool = false, _ body: @escaping @Sendable (PostgresTransaction) async throws -> Value) async throws -> Value {
        let probe = try monitor.admit()
        defer { if probe { monitor.probeEnded() } }
        do {
            return try await bounded {
                try await PostgresTransaction.leased(from: client, logger: logger) { transaction in
                    guard snapshot else { return try await body(transaction) }
                    try await transaction.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    do {
                        let value = try await body(transaction)
                        try await transaction.execute("COMMIT")
                        return value
                    } catch {
                        try? await transaction.execute("ROLLBACK")
                        throw error
                    }
                }
            }
        } catch {
            throw monitor.failed(error)
        }
    }

    /// Runs `body` unless another instance holds the session lock of `name`; the lock is held on one pooled
    /// connection for as long as `body` runs, and released however it ends (a dead instance's lock ends with its
    /// connection).
    func exclusively<Value: Sendable>(_ name: String, _ body: @Sendable () async throws -> Value) async throws -> Value? {
        let key = Self.lockKey(name)
        do {
            return try await client.withConnection { connection in
                let transaction = PostgresTransaction(connection: connection, logger: logger)
                guard try await transaction.value("SELECT pg_try_advisory_lock(\(key))", as: Bool.self) == true else { return nil }
                monitor.succeeded()
                do {
                    let value = try await body()
                    _ = try? await transaction.value("SELECT pg_advisory_unlock(\(key))", as: Bool.self)
                    return value
                } catch {
                    _ = try? await transaction.value("SELECT pg_advisory_unlock(\(key))", as: Bool.self)
                    throw error
                }
            }
        } catch let error as TollgateError {
            throw error
        } catch {
            throw monitor.failed(error)
        }
    }

    /// A stable 64-bit lock key for a job name (FNV-1a), so every instance computes the same one.
    static func lockKey(_ name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "tollgate-job:\(name)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// Runs `body`, throwing `storeUnavailable` once `timeout` has passed (the body is cancelled).
    private func bounded<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let result = try await PostgresStores.withTimeout(timeout, "PostgreSQL did not answer", body)
        monitor.succeeded()
        return result
    }

    /// A transaction PostgreSQL rolled back so that it may simply run again.
    static func isRetriable(_ error: any Error) -> Bool {
        guard let state = sqlState(error) else { return false }
        return state == "40001" || state == "40P01"
    }

    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// What a PostgreSQL failure says, without the query's bound values (they may be proofs or payloads).
    static func describe(_ error: any Error) -> String {
        if let error = error as? TollgateError { return error.message }
        guard let error = error as? PSQLError else { return "\(type(of: error))" }
        if let server = error.serverInfo {
            return "\(server[.sqlState] ?? "?"): \(server[.message] ?? "refused")"
        }
        return "\(error.code)"
    }
}

/// Tracks whether PostgreSQL has been answering, for `health()`: a failure that reached no server (connection
/// refused or closed, timeout) or a server that refuses writes (read-only, shutting down) marks it unreachable;
/// the next operation that succeeds marks it reachable again.
///
/// While it is unreachable, one operation at a time is let through as a probe (it waits up to the timeout, and its
/// success ends the outage); every other one fails at once with `storeUnavailable`, so a paid request during an outage
/// is answered 503 without waiting a timeout per store call.
final class PostgresHealthMonitor: Sendable {
    private struct State {
        var health = StoreHealth(backend: "postgres")
        var probing = false
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    var health: StoreHealth { state.withLock { $0.health } }

    /// Lets an operation through: true when it is the probe of an outage (call `probeEnded` after it); throws when the
    /// database is unreachable and a probe is already on its way.
    func admit() throws -> Bool {
        try state.withLock { state in
            guard !state.health.reachable else { return false }
            guard !state.probing else {
                throw TollgateError(.storeUnavailable, "PostgreSQL is unreachable (\(state.health.lastError ?? "no answer")); retry shortly")
            }
            state.probing = true
            return true
        }
    }

    func probeEnded() {
        state.withLock { $0.probing = false }
    }

    func succeeded() {
        let recovered = state.withLock { state -> Bool in
            guard !state.health.reachable else { return false }
            state.health.reachable = true
            state.health.sinceMillis = Self.nowMillis()
            return true
        }
        if recovered { logger.notice("PostgreSQL is answering again") }
    }

    /// Records `error` and returns what to throw: the store's own errors as they are, PostgreSQL's as
    /// `storeUnavailable` with what the server said.
    func failed(_ error: any Error) -> any Error {
        if let error = error as? TollgateError, error.code != .storeUnavailable { return error }
        if error is CancellationError { return error }
        let message = PostgresExecutor.describe(error)
        // A task cancelled by a shutdown fails its pending operations; that is not the database going away.
        if Self.isOutage(error), !Task.isCancelled {
            let wentDown = state.withLock { state -> Bool in
                state.health.failures += 1
                state.health.lastError = message
                guard state.health.reachable else { return false }
                state.health.reachable = false
                state.health.sinceMillis = Self.nowMillis()
                return true
            }
            if wentDown { logger.error("PostgreSQL is unreachable; paid requests answer 503 until it is back", metadata: ["tollgate.error": "\(message)"]) }
        }
        if let error = error as? TollgateError { return error }
        return TollgateError(.storeUnavailable, "PostgreSQL: \(message)")
    }

    /// A failure of the database as a whole, not of one statement.
    static func isOutage(_ error: any Error) -> Bool {
        if let error = error as? TollgateError { return error.code == .storeUnavailable }
        guard let state = PostgresExecutor.sqlState(error) else { return true }
        // 08: connection exception; 25006: read-only transaction (a standby after fail-over); 57: operator intervention
        // (shutdown, cannot connect now); 53: insufficient resources.
        return state.hasPrefix("08") || state == "25006" || state.hasPrefix("57") || state.hasPrefix("53")
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
