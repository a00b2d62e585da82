import GRDB
import GRDBSQLite

/// A cached GRDB statement bound and stepped through SQLite's own API: for the audit insert, which runs for every event
/// the gateway records (one per 402, several per paid request), where boxing fourteen values into `StatementArguments`
/// cost more than SQLite's insert, and, through `Database.runRaw`, for the other writes every paid request makes on the
/// store's single writer (the claim, the evidence, the intent's document, the stored answer, the ledger row, usage,
/// state changes: about 5 % of a paid request's CPU was GRDB's boxing and bookkeeping around them). Used only inside a
/// transaction the caller holds. What GRDB would have done around the
/// statement is skipped: telling transaction observers and `ValueObservation` (Tollgate registers none: a future
/// observer of `audit_event` would not see these inserts), its tracing, its cancellation check and its rollback of a
/// failed statement (the caller's transaction handles a throw).
struct RawStatement {
    private let statement: Statement
    private var handle: OpaquePointer { statement.sqliteStatement }
    /// Where the next `bind` goes (SQLite counts parameters from 1).
    private var index: Int32 = 1
    /// The first binding SQLite refused (out of range, too big), thrown by `execute`: a value is never left NULL quietly.
    private var refusal: Int32?
    /// SQLite copies the bytes before `bind` returns (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ statement: Statement) { self.statement = statement }

    mutating func bind(_ value: String?) {
        guard var value else { return bindNull() }
        let code = value.withUTF8 { utf8 -> Int32 in
            guard utf8.count <= Int32.max else { return SQLITE_TOOBIG }
            // An empty buffer may have no address, and a null pointer would bind NULL, not ''.
            guard let base = utf8.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, Self.transient) }
            return sqlite3_bind_text(handle, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(utf8.count), Self.transient)
        }
        bound(code)
    }

    mutating func bind(_ value: Int64) {
        bound(sqlite3_bind_int64(handle, index, value))
    }

    mutating func bindNull() {
        bound(sqlite3_bind_null(handle, index))
    }

    mutating func bind(_ bytes: [UInt8]) {
        let code = bytes.withUnsafeBytes { raw -> Int32 in
            guard raw.count <= Int32.max else { return SQLITE_TOOBIG }
            // An empty buffer may have no address, and a null pointer would bind NULL, not an empty blob.
            guard let base = raw.baseAddress else { return sqlite3_bind_zeroblob(handle, index, 0) }
            return sqlite3_bind_blob(handle, index, base, Int32(raw.count), Self.transient)
        }
        bound(code)
    }

    /// Throws when a binding was refused or the values bound are not exactly the statement's parameters.
    private func checkBindings() throws {
        let parameters = sqlite3_bind_parameter_count(handle)
        if let refusal {
            throw DatabaseError(resultCode: ResultCode(rawValue: refusal), message: "a value could not be bound", sql: statement.sql)
        }
        guard index - 1 == parameters else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "\(index - 1) values bound for \(parameters) parameters", sql: statement.sql)
        }
    }

    private mutating func bound(_ code: Int32) {
        if code != SQLITE_OK, refusal == nil { refusal = code }
        index += 1
    }

    /// Runs a statement that returns at most one row and reads that row with `read` (SQLite's column API on the statement's
    /// handle); nil when there is none. Cleared for the next use whatever the outcome, like `execute`.
    mutating func first<T>(_ db: Database, _ read: (OpaquePointer) -> T) throws -> T? {
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
            index = 1
            refusal = nil
        }
        try checkBindings()
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return read(handle)
        case SQLITE_DONE: return nil
        case let code:
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                sql: statement.sql)
        }
    }

    /// The text of column `column` of the current row; nil when it is NULL.
    static func text(_ handle: OpaquePointer, _ column: Int32) -> String? {
        guard let text = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: text)
    }

    /// The integer of column `column` of the current row (0 when it is NULL).
    static func int64(_ handle: OpaquePointer, _ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    /// Runs the statement (one that returns no rows), then clears it for the next use, whatever the outcome. Throws
    /// without running it when a binding was refused or the values bound are not exactly the statement's parameters.
    mutating func execute(_ db: Database) throws {
        if try first(db, { _ in true }) != nil {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "a statement run for no rows returned one", sql: statement.sql)
        }
    }

    /// Binds `values` in order after those bound before, each with its own type (a parameter pack: nothing boxed).
    mutating func bind<each Value: RawBindable>(values: repeat each Value) {
        repeat (each values).bind(to: &self)
    }

    /// Binds `values` in order, each with its own type (a parameter pack: nothing boxed), then runs the statement as
    /// `execute(_:)` does.
    mutating func execute<each Value: RawBindable>(_ db: Database, binding values: repeat each Value) throws {
        bind(values: repeat each values)
        try execute(db)
    }
}

/// A value `Database.runRaw` binds through SQLite's API.
protocol RawBindable {
    func bind(to statement: inout RawStatement)
}

extension String: RawBindable { func bind(to statement: inout RawStatement) { statement.bind(self) } }
extension Int64: RawBindable { func bind(to statement: inout RawStatement) { statement.bind(self) } }
extension Optional: RawBindable where Wrapped: RawBindable {
    func bind(to statement: inout RawStatement) {
        guard let self else { return statement.bindNull() }
        self.bind(to: &statement)
    }
}
extension Int: RawBindable { func bind(to statement: inout RawStatement) { statement.bind(Int64(self)) } }
extension Array<UInt8>: RawBindable { func bind(to statement: inout RawStatement) { statement.bind(self) } }

extension Database {
    /// Runs a fixed SQL text (cached like `run(sql:arguments:)`) that returns no rows, its values bound through SQLite's
    /// API, each with its own type (a parameter pack: nothing boxed). For the statements every paid request runs on the
    /// store's single writer; the rules of `RawStatement` apply.
    func runRaw<each Value: RawBindable>(sql: String, _ values: repeat each Value) throws {
        var statement = RawStatement(try cachedStatement(sql: sql))
        try statement.execute(self, binding: repeat each values)
    }

    /// Like `runRaw`, for a statement that returns at most one row: `read` reads it (`RawStatement.text`,
    /// `RawStatement.int64`); nil when there is none.
    func firstRaw<T, each Value: RawBindable>(sql: String, _ values: repeat each Value, read: (OpaquePointer) -> T) throws -> T? {
        var statement = RawStatement(try cachedStatement(sql: sql))
        repeat (each values).bind(to: &statement)
        return try statement.first(self, read)
    }
}
