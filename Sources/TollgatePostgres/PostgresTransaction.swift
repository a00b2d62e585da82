import Logging
import PostgresNIO
import Synchronization
import TollgateCore

/// One leased connection, inside a transaction for writes: the few query shapes the store uses.
///
/// Values are bound with `PostgresQuery` interpolation (`"… WHERE id = \(id)"` sends `id` as a parameter); only
/// fixed identifiers go in through `\(unescaped:)`.
struct PostgresTransaction {
    let connection: PostgresConnection
    let logger: Logger
    /// Audit events of a group commit's writes, appended together at its end (write transactions only, which hold the
    /// write lock): one statement for the batch instead of a head read and an insert per write.
    let audit: PendingAudit?
    /// Tripped when a prepared statement failed in a way its preparation may have: postgres-nio keeps a failed
    /// preparation's error for the connection's life (every later run of that statement on it would fail the same way,
    /// without reaching the server), so `leased` closes such a connection once its transaction is over, and the pool
    /// opens a fresh one.
    let retired = Latch()

    init(connection: PostgresConnection, logger: Logger, audit: PendingAudit? = nil) {
        self.connection = connection
        self.logger = logger
        self.audit = audit
    }

    /// Runs `body` on a connection leased from `client`; closes it afterwards if a prepared statement failed on it.
    /// The close is awaited before the connection goes back: a connection released while still closing would be
    /// handed to the next lease (the committer's retry of the rest of a batch comes at once) and fail it.
    static func leased<Value: Sendable>(from client: PostgresClient, logger: Logger, audit: PendingAudit? = nil,
                                        _ body: (PostgresTransaction) async throws -> Value) async throws -> Value {
        try await client.withConnection { connection in
            let transaction = PostgresTransaction(connection: connection, logger: logger, audit: audit)
            do {
                let value = try await body(transaction)
                if transaction.retired.isTripped { try? await connection.close() }
                return value
            } catch {
                if transaction.retired.isTripped { try? await connection.close() }
                throw error
            }
        }
    }

    /// Whether a statement's failure leaves its connection fit for reuse: errors only running a statement raises
    /// (a constraint, a deadlock or serialisation failure, bad data) never come from its preparation. Anything else
    /// might have been raised by it (an unknown table, a lock timeout, a plan whose result type changed…).
    static func keepsConnection(after error: any Error) -> Bool {
        guard let state = PostgresExecutor.sqlState(error) else { return false }
        return ["22", "23", "40"].contains(String(state.prefix(2)))
    }

    /// Runs a statement and discards what it returns.
    func execute(_ query: PostgresQuery) async throws {
        try await connection.query(query, logger: logger)
    }

    /// Runs a statement and counts the rows it returned: with `RETURNING 1`, the rows it changed.
    func count(_ query: PostgresQuery) async throws -> Int {
        try await connection.query(query, logger: logger).collect().count
    }

    /// Runs a prepared statement (`PreparedWrite`: parsed once per connection) and returns its rows.
    func run<Statement: PreparedWrite>(_ statement: Statement) async throws -> [PostgresRow] {
        do {
            var rows: [PostgresRow] = []
            for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
            return rows
        } catch {
            if !Self.keepsConnection(after: error) { _ = retired.trip() }
            throw error
        }
    }

    /// Every row, by column name.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await connection.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    /// The first row, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? {
        try await rows(query).first
    }

    /// The first column of the first row; nil when there is no row (or the value is NULL).
    func value<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type = Value.self) async throws -> Value? {
        guard let row = try await connection.query(query, logger: logger).collect().first else { return nil }
        let cell = row.makeRandomAccess()[0]
        guard cell.bytes != nil else { return nil }
        return try cell.decode(Value.self, context: .default)
    }

    /// The first column of every row.
    func values<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type = Value.self) async throws -> [Value] {
        try await connection.query(query, logger: logger).collect().map { try $0.makeRandomAccess()[0].decode(Value.self, context: .default) }
    }
}

/// A write transaction's audit events not yet inserted, and the chain's head as the transaction last left it.
/// `PostgresStore.flushAudit` inserts them; `discard()` drops them with a rolled-back write, and `forget()` makes the
/// next flush read the head again (after a rollback or an archived range).
final class PendingAudit: Sendable {
    private struct State {
        var events: [AuditChain.Prepared] = []
        var keys: KeyRing?
        var head: (hash: String, seq: Int64)?
    }

    private let state = Mutex(State())

    var head: (hash: String, seq: Int64)? { state.withLock { $0.head } }

    func add(_ events: [AuditChain.Prepared], keys: KeyRing?) {
        state.withLock { state in
            state.events += events
            state.keys = keys
        }
    }

    /// The events to insert, and the keys to chain them with; none are pending afterwards.
    func take() -> (events: [AuditChain.Prepared], keys: KeyRing?) {
        state.withLock { state in
            defer { state.events = [] }
            return (state.events, state.keys)
        }
    }

    func appended(hash: String, seq: Int64) { state.withLock { $0.head = (hash, seq) } }

    func discard() { state.withLock { $0.events = [] } }

    func forget() { state.withLock { $0.head = nil } }
}

extension PostgresRandomAccessRow {
    /// The value of `column`, decoded; a missing column or a wrong type throws (never a crash).
    func get<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        guard contains(column) else { throw TollgateError(.storeUnavailable, "PostgreSQL returned no column \(column)") }
        return try self[column].decode(Value.self, context: .default)
    }
}
