import GRDB
import Testing
@testable import TollgateSQLite

/// The audit insert binds through SQLite's own API (`RawStatement`): values arrive as GRDB would bind them, and a failed
/// insert throws GRDB's error and leaves the statement ready for the next one.
@Suite struct RawStatementTests {
    @Test func valuesArriveAsBoundAndAFailedInsertLeavesTheStatementReusable() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT, other TEXT)")
            var insert = RawStatement(try db.cachedStatement(sql: "INSERT INTO t (id, text, other) VALUES (?, ?, ?)"))
            let rows: [(Int64, String?, String?)] = [(1, "plain", nil), (2, "", "é \"quoted\" \u{1}\n"), (3, String(repeating: "x", count: 5000), "z")]
            for (id, text, other) in rows {
                insert.bind(id)
                insert.bind(text)
                insert.bind(other)
                try insert.execute(db)
            }
            // A duplicate key: GRDB's error, with SQLite's code and message.
            insert.bind(Int64(2))
            insert.bind("again")
            insert.bind("again")
            let error = try #require(throws: DatabaseError.self) { try insert.execute(db) }
            #expect(error.resultCode == .SQLITE_CONSTRAINT)
            #expect(error.message?.contains("UNIQUE") == true)
            // The next insert starts from clean bindings: a value left out is NULL, not the failed insert's.
            insert.bind(Int64(4))
            insert.bind("after")
            try insert.execute(db)

            let stored = try Row.fetchAll(db, sql: "SELECT id, text, other, typeof(text) AS kind FROM t ORDER BY id")
            #expect(stored.map { $0["id"] as Int64 } == [1, 2, 3, 4])
            #expect(stored.map { $0["text"] as String? } == ["plain", "", String(repeating: "x", count: 5000), "after"])
            #expect(stored.map { $0["other"] as String? } == [nil, "é \"quoted\" \u{1}\n", "z", nil])
            #expect(stored[1]["kind"] as String == "text")
        }
    }
}
