import GRDB
import GRDBSQLite

/// A cached GRDB statement bound and stepped through SQLite's own API: for the audit insert, which runs for every event
/// the gateway records (one per 402, several per paid request), where boxing fourteen values into `StatementArguments`
/// cost more than SQLite's insert. Used only inside a transaction the caller holds, with no transaction observers
/// (Tollgate registers none), so GRDB has nothing to track that this skips.
struct RawStatement {
    private let statement: Statement
    private var handle: OpaquePointer { statement.sqliteStatement }
    /// Where the next `bind` goes (SQLite counts parameters from 1).
    private var index: Int32 = 1
    /// SQLite copies the bytes before `bind` returns (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ statement: Statement) { self.statement = statement }

    mutating func bind(_ value: String?) {
        defer { index += 1 }
        guard var value else {
            sqlite3_bind_null(handle, index)
            return
        }
        value.withUTF8 { utf8 in
            // An empty buffer may have no address, and a null pointer would bind NULL, not ''.
            if let base = utf8.baseAddress {
                _ = sqlite3_bind_text(handle, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(utf8.count), Self.transient)
            } else {
                _ = sqlite3_bind_text(handle, index, "", 0, Self.transient)
            }
        }
    }

    mutating func bind(_ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
        index += 1
    }

    /// Runs the statement (one that returns no rows), then clears it for the next use, whatever the outcome.
    mutating func execute(_ db: Database) throws {
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
            index = 1
        }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                sql: statement.sql)
        }
    }
}
