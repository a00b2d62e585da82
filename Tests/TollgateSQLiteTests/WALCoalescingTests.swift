import Foundation
import GRDB
import GRDBSQLite
import Testing
import TollgateCore
@testable import TollgateSQLite

/// The WAL-coalescing VFS writes a transaction's frames in few calls, and a commit is on file when it returns: a copy of
/// the files taken right then (what a crashed process leaves) holds it, whichever connection or mode wrote it.
@Suite(.serialized) struct WALCoalescingTests {
    /// The database and its WAL copied as they are on file now, without the shared-memory index, and opened: what a
    /// process that crashed at this instant leaves behind (SQLite rebuilds the index from the WAL).
    static func crashCopy(of path: String) throws -> (DatabaseQueue, URL) {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-crash-copy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        let target = copy.appendingPathComponent("copy.sqlite").path
        try FileManager.default.copyItem(atPath: path, toPath: target)
        if FileManager.default.fileExists(atPath: path + "-wal") {
            try FileManager.default.copyItem(atPath: path + "-wal", toPath: target + "-wal")
        }
        return (try DatabaseQueue(path: target), copy)
    }

    /// A fresh directory and a database path in it, the VFS installed (as a store would have).
    static func scratch(_ name: String) throws -> (URL, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try WALCoalescing.install()
        return (directory, directory.appendingPathComponent("\(name).sqlite").path)
    }

    static func integrity(_ queue: DatabaseQueue) async throws -> String? {
        try await queue.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
    }

    @Test("opening a store makes the coalescing VFS SQLite's default")
    func aStoreInstallsTheVFS() throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        #expect(WALCoalescing.isInstalled)
        try WALCoalescing.install()   // again: nothing changes
        #expect(WALCoalescing.isInstalled)
    }

    /// A page split that reorders its new pages swaps their numbers through the lock-byte page's number; the page cache
    /// gives the default cache a number just above its pages instead (`PageCache.c`), so no commit walks the whole cache.
    /// Whatever the swaps, every row stays where its indexes say, through commits and rollbacks.
    @Test("a split's temporary page number is replaced in the page cache, and every page keeps its content")
    func aSplitsTemporaryPageNumberNeverReachesTheDefaultCache() async throws {
        let (directory, path) = try Self.scratch("splits")
        #expect(WALCoalescing.pageCacheIsWrapped, "the page cache must be installed before SQLite initializes")
        defer { try? FileManager.default.removeItem(at: directory) }
        let queue = try DatabaseQueue(path: path)
        try await queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, body TEXT NOT NULL)")
        }
        let before = WALCoalescing.pageCacheSwaps
        var kept: [String: String] = [:]
        @Sendable func randomKey() -> String { (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined() }
        // Random keys split index pages all over the tree, many of them reordering their new pages.
        for round in 0..<60 {
            let rows = (0..<60).map { index in (randomKey(), "r\(round)-\(index)-" + String(repeating: "b", count: 200)) }
            try await queue.write { db in
                for (key, body) in rows { try db.execute(sql: "INSERT INTO t (k, body) VALUES (?, ?)", arguments: [key, body]) }
            }
            for (key, body) in rows { kept[key] = body }
            // A transaction that split pages too, then rolled back, and a savepoint rolled back inside a committed one.
            struct Abandon: Error {}
            _ = try? await queue.write { db in
                for _ in 0..<40 { try db.execute(sql: "INSERT INTO t (k, body) VALUES (?, 'abandoned')", arguments: [randomKey()]) }
                throw Abandon()
            }
            try await queue.write { db in
                try db.inSavepoint {
                    for _ in 0..<40 { try db.execute(sql: "INSERT INTO t (k, body) VALUES (?, 'rolled back')", arguments: [randomKey()]) }
                    return .rollback
                }
            }
        }
        let after = WALCoalescing.pageCacheSwaps
        #expect(after.substituted > before.substituted, "no split swapped its pages through the page cache")
        #expect(after.passedOn == before.passedOn, "the default cache was given the lock-byte page's number")
        let (indexed, bodies, check) = try await queue.read { db in
            (try String.fetchAll(db, sql: "SELECT k FROM t INDEXED BY sqlite_autoindex_t_1 ORDER BY k"),
             try Row.fetchAll(db, sql: "SELECT k, body FROM t").map { ($0["k"] as String, $0["body"] as String) },
             try String.fetchOne(db, sql: "PRAGMA integrity_check"))
        }
        #expect(check == "ok")
        #expect(indexed == kept.keys.sorted())
        #expect(Dictionary(uniqueKeysWithValues: bodies) == kept)
        let (copy, copyDirectory) = try Self.crashCopy(of: path)
        defer { try? FileManager.default.removeItem(at: copyDirectory) }
        #expect(try await Self.integrity(copy) == "ok")
    }

    @Test("a commit of thousands of pages reaches the file system in a few large writes, not two per page")
    func aLargeCommitIsWrittenInFewCalls() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let before = WALCoalescing.writes
        try await database.store.write { db in
            for index in 0..<2_000 {
                try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES (?, 'bulk', ?)",
                               arguments: ["s\(index)", String(repeating: "9", count: 3_000)])
            }
        }
        let after = WALCoalescing.writes
        let requested = after.requested - before.requested
        let issued = after.issued - before.issued
        // About 2,000 pages: 4,000 writes asked for, about 130 of 64 KiB issued (other tests' commits may add a few).
        #expect(requested >= 4_000)
        #expect(issued * 4 < requested)
        let (copy, directory) = try Self.crashCopy(of: database.path)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await copy.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spend_total WHERE bucket = 'bulk'") } == 2_000)
        #expect(try await Self.integrity(copy) == "ok")
    }

    @Test("a commit, synced or not, is on file when it returns: a copy of the files taken then holds it")
    func aCommitIsOnFileWhenItReturns() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        for (index, synced) in [true, false, false, true, false].enumerated() {
            try await store.write(synced: synced) { db in
                try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES (?, 'each', '1')", arguments: ["s\(index)"])
            }
            let (copy, directory) = try Self.crashCopy(of: database.path)
            defer { try? FileManager.default.removeItem(at: directory) }
            let rows = try await copy.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spend_total WHERE bucket = 'each'") }
            #expect(rows == index + 1, "commit \(index) (synced: \(synced)) missing from the files")
        }
    }

    @Test("a transaction that spilled frames and rolled back leaves none of them, and the commits after it are whole")
    func aRolledBackSpillLeavesTheLogConsistent() async throws {
        let (directory, path) = try Self.scratch("spill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let queue = try DatabaseQueue(path: path)
        try await queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            // A tiny page cache: a large transaction writes frames to the WAL before it commits.
            try db.execute(sql: "PRAGMA cache_size = 8")
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        }
        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
            try await queue.write { db in
                for index in 0..<500 {
                    try db.execute(sql: "INSERT INTO t (id, body) VALUES (?, ?)", arguments: [index, String(repeating: "x", count: 2_000)])
                }
                throw Abandon()
            }
        }
        try await queue.write { db in
            for index in 1_000..<1_300 {
                try db.execute(sql: "INSERT INTO t (id, body) VALUES (?, ?)", arguments: [index, String(repeating: "y", count: 2_000)])
            }
        }
        try await queue.write { db in try db.execute(sql: "UPDATE t SET body = 'z' WHERE id % 2 = 0") }
        let (copy, copyDirectory) = try Self.crashCopy(of: path)
        defer { try? FileManager.default.removeItem(at: copyDirectory) }
        #expect(try await Self.integrity(copy) == "ok")
        let counts = try await copy.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t WHERE body = 'z'"),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t WHERE id < 1000"))
        }
        #expect(counts.0 == 300 && counts.1 == 150 && counts.2 == 0)
    }

    @Test("concurrent writers and readers: every reader sees whole commits in order, and the files end consistent")
    func concurrentWritesAndReadsStayConsistent() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let writes = 200
        let seen = try await withThrowingTaskGroup(of: [Int].self) { group in
            for index in 0..<writes {
                group.addTask {
                    try await store.write(synced: index % 3 != 0) { db in
                        // Two rows per write: a reader counting an odd number saw half a commit.
                        for half in 0..<2 {
                            try db.execute(sql: "INSERT INTO spend_total (subject, bucket, total) VALUES (?, 'pair', ?)",
                                           arguments: ["s\(index)-\(half)", String(repeating: "7", count: 1_500)])
                        }
                    }
                    return []
                }
            }
            for _ in 0..<4 {
                group.addTask {
                    var counts: [Int] = []
                    for _ in 0..<50 {
                        counts.append(try await store.writer.read { db in
                            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spend_total WHERE bucket = 'pair'") ?? -1
                        })
                    }
                    return counts
                }
            }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }.filter { !$0.isEmpty }
        }
        for counts in seen {
            #expect(counts.allSatisfy { $0 % 2 == 0 && $0 >= 0 })
            #expect(counts == counts.sorted())
        }
        let (copy, directory) = try Self.crashCopy(of: database.path)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await copy.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spend_total WHERE bucket = 'pair'") } == 2 * writes)
        #expect(try await Self.integrity(copy) == "ok")
    }

    /// Without power-safe overwrites (`psow=0`), SQLite pads a synced commit to a sector boundary and syncs inside a
    /// frame; the VFS writes such a WAL straight through, so another connection reads every page of every commit.
    @Test("a WAL without power-safe overwrites is written straight through: another connection reads each commit whole")
    func aLogWithoutPowerSafeOverwritesIsWrittenThrough() async throws {
        let (directory, path) = try Self.scratch("psow")
        defer { try? FileManager.default.removeItem(at: directory) }
        var handle: OpaquePointer?
        #expect(sqlite3_open_v2("file:\(path)?psow=0", &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nil) == SQLITE_OK)
        defer { sqlite3_close_v2(handle) }
        func run(_ sql: String) { #expect(sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK, "\(sql)") }
        run("PRAGMA journal_mode = WAL")
        run("PRAGMA synchronous = FULL")
        run("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        let reader = try DatabaseQueue(path: path)
        for round in 0..<20 {
            run("BEGIN")
            for index in 0..<7 { run("INSERT INTO t (body) VALUES ('\(String(repeating: "r\(round)i\(index)", count: 150))')") }
            run("COMMIT")
            let (rows, check) = try await reader.read { db in
                (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t WHERE length(body) > 0"), try String.fetchOne(db, sql: "PRAGMA quick_check"))
            }
            #expect(rows == 7 * (round + 1) && check == "ok", "round \(round)")
        }
    }

    /// A transaction larger than the page cache writes frames before it commits; a page changed again is rewritten in its
    /// frame and the checksums after it are written again, the commit frame's last. Committed without a sync, the copy of
    /// the files right after the commit holds it whole.
    @Test("an unsynced commit whose spilled frames were rewritten in place is on file when it returns")
    func anUnsyncedCommitWithRewrittenFramesIsOnFile() async throws {
        let (directory, path) = try Self.scratch("rewrite")
        defer { try? FileManager.default.removeItem(at: directory) }
        let queue = try DatabaseQueue(path: path)
        try await queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = 8")
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        }
        for round in 0..<3 {
            try await queue.write { db in
                for index in 0..<400 {
                    try db.execute(sql: "INSERT OR REPLACE INTO t (id, body) VALUES (?, ?)", arguments: [index, String(repeating: "a\(round)", count: 700)])
                }
                // Every page again, after many of them were spilled to the log.
                try db.execute(sql: "UPDATE t SET body = ? || substr(body, 1, 1000)", arguments: ["r\(round)"])
            }
            let (copy, copyDirectory) = try Self.crashCopy(of: path)
            defer { try? FileManager.default.removeItem(at: copyDirectory) }
            #expect(try await Self.integrity(copy) == "ok", "round \(round)")
            let rows = try await copy.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t WHERE body LIKE ?", arguments: ["r\(round)a\(round)%"]) }
            #expect(rows == 400, "round \(round)")
        }
    }
}
