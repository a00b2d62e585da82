import Foundation
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
            // The next insert starts from clean bindings.
            insert.bind(Int64(4))
            insert.bind("after")
            insert.bind(nil as String?)
            try insert.execute(db)

            let stored = try Row.fetchAll(db, sql: "SELECT id, text, other, typeof(text) AS kind FROM t ORDER BY id")
            #expect(stored.map { $0["id"] as Int64 } == [1, 2, 3, 4])
            #expect(stored.map { $0["text"] as String? } == ["plain", "", String(repeating: "x", count: 5000), "after"])
            #expect(stored.map { $0["other"] as String? } == [nil, "é \"quoted\" \u{1}\n", "z", nil])
            #expect(stored[1]["kind"] as String == "text")
        }
    }

    /// A value SQLite refuses to bind, or fewer or more values than the statement's parameters, is an error before the
    /// statement runs (never a column left NULL quietly), and the statement is clean for the next use.
    @Test func aRefusedOrMissingBindingIsAnErrorNotANull() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT)")
            var insert = RawStatement(try db.cachedStatement(sql: "INSERT INTO t (id, text) VALUES (?, ?)"))
            insert.bind(Int64(1))
            let missing = try #require(throws: DatabaseError.self) { try insert.execute(db) }
            #expect(missing.resultCode == .SQLITE_MISUSE)
            #expect(missing.message?.contains("1 values bound for 2 parameters") == true)

            insert.bind(Int64(2))
            insert.bind("two")
            insert.bind("one too many")
            let extra = try #require(throws: DatabaseError.self) { try insert.execute(db) }
            #expect(extra.resultCode == .SQLITE_RANGE)

            insert.bind(Int64(3))
            insert.bind("three")
            try insert.execute(db)
            #expect(try Row.fetchAll(db, sql: "SELECT id, text FROM t").map { "\($0["id"] as Int64) \($0["text"] as String)" } == ["3 three"])
        }
    }

    /// `runRaw` binds each value with its own type (a parameter pack): text, absent values as NULL, integers, blobs (an
    /// empty one stays an empty blob, never NULL); the statement's changes count as GRDB's would, and a wrong number of
    /// values is an error.
    @Test func runRawBindsEachValueWithItsType() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, note TEXT, count INTEGER, at INTEGER, body BLOB)")
            let sql = "INSERT INTO t (id, name, note, count, at, body) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
            try db.runRaw(sql: sql, Int64(1), "one", nil as String?, 7, Int64(1_750_000_000_123) as Int64?, [0x00, 0xFF, 0x10] as [UInt8])
            #expect(db.changesCount == 1)
            try db.runRaw(sql: sql, Int64(2), "two", "é" as String?, -1, nil as Int64?, [] as [UInt8])
            try db.runRaw(sql: sql, Int64(2), "again", nil as String?, 0, nil as Int64?, [] as [UInt8])
            #expect(db.changesCount == 0)
            let rows = try Row.fetchAll(db, sql: "SELECT *, typeof(note) AS noteKind, typeof(at) AS atKind, typeof(body) AS bodyKind FROM t ORDER BY id")
            #expect(rows.map { $0["name"] as String } == ["one", "two"])
            #expect(rows.map { $0["note"] as String? } == [nil, "é"])
            #expect(rows.map { $0["count"] as Int } == [7, -1])
            #expect(rows.map { $0["at"] as Int64? } == [1_750_000_000_123, nil])
            #expect(rows.map { $0["noteKind"] as String } == ["null", "text"])
            #expect(rows.map { $0["atKind"] as String } == ["integer", "null"])
            #expect(rows.map { $0["bodyKind"] as String } == ["blob", "blob"])
            #expect(rows.map { [UInt8]($0["body"] as Data) } == [[0x00, 0xFF, 0x10], []])
            let short = try #require(throws: DatabaseError.self) { try db.runRaw(sql: sql, Int64(3), "three") }
            #expect(short.resultCode == .SQLITE_MISUSE)
        }
    }

    /// `firstRaw` reads the one row a statement returns (text, NULL text, integer), nil when there is none.
    @Test func firstRawReadsTheRowOrNothing() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
            try db.runRaw(sql: "INSERT INTO t (name) VALUES (?)", "first")
            try db.runRaw(sql: "INSERT INTO t (name) VALUES (?)", nil as String?)
            #expect(try db.firstRaw(sql: "SELECT max(id) FROM t") { RawStatement.int64($0, 0) } == 2)
            let read = { (id: Int64) in
                try db.firstRaw(sql: "SELECT name, id FROM t WHERE id = ?", id) { (name: RawStatement.text($0, 0), id: RawStatement.int64($0, 1)) }
            }
            #expect(try read(1)?.name == "first" && read(1)?.id == 1)
            #expect(try read(2).map { $0.name == nil && $0.id == 2 } == true)
            #expect(try read(3) == nil)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") == 2)
        }
    }
}
