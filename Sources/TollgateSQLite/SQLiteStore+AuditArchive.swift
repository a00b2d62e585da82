import Foundation
import GRDB
import TollgateCore

extension SQLiteStore {
    /// Tables for audit retention (archived ranges and the anchor the chain continues from).
    static func migrateAuditArchive(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE audit_archive (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, prev_hash TEXT NOT NULL, last_hash TEXT NOT NULL,
                event_count INTEGER NOT NULL, file TEXT NOT NULL, file_sha256 TEXT NOT NULL, archived_at INTEGER NOT NULL,
                CHECK (last_seq >= first_seq)
            );
            CREATE UNIQUE INDEX audit_archive_first ON audit_archive (first_seq);
            """)
    }

    /// Each archived range's index: the lookup keys its file names (`AuditArchiveSearch.lookupKeys`), so support reads
    /// only the files that hold a flow. Ranges archived before it are marked unindexed (read for every lookup).
    static func migrateAuditArchiveKeys(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE audit_archive ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0;
            CREATE TABLE audit_archive_key (key TEXT NOT NULL, first_seq INTEGER NOT NULL, PRIMARY KEY (key, first_seq)) WITHOUT ROWID;
            """)
    }

    public func auditArchives() async throws -> [AuditArchiveRecord] {
        try await writer.read { db in try Self.auditArchives(db) }
    }

    public func auditArchives(holding keys: Set<String>) async throws -> [AuditArchiveRecord] {
        try await writer.read { db in
            let holding = try Set(Int64.fetchAll(db, sql: "SELECT DISTINCT first_seq FROM audit_archive_key WHERE key IN (SELECT value FROM json_each(?))",
                                                 arguments: [Self.jsonArray(keys)]))
            return try Self.auditArchives(db).filter { !$0.indexed || holding.contains($0.firstSeq) }
        }
    }

    public func indexAuditArchive(firstSeq: Int64, keys: Set<String>) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE audit_archive SET indexed = 1 WHERE first_seq = ?", arguments: [firstSeq])
            guard db.changesCount == 1 else { throw TollgateError(.notFound, "no archived range starts at seq \(firstSeq)") }
            try Self.insertArchiveKeys(keys, firstSeq: firstSeq, db)
        }
    }

    static func insertArchiveKeys(_ keys: Set<String>, firstSeq: Int64, _ db: Database) throws {
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO audit_archive_key (key, first_seq) VALUES (?, ?)")
        for key in keys { try insert.execute(arguments: [key, firstSeq]) }
    }

    /// A JSON array of strings, for `json_each` (one bound value, however many keys).
    static func jsonArray(_ values: Set<String>) -> String {
        String(decoding: JSONValue.array(values.sorted().map(JSONValue.string)).canonicalBytes, as: UTF8.self)
    }

    public func auditEvents(after seq: Int64, limit: Int) async throws -> [RecordedAuditEvent] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]).map(Self.recorded)
        }
    }

    public func auditSequenceValue() async throws -> Int64? {
        try await writer.read { db in try Self.auditSequenceValue(db) }
    }

    @discardableResult
    public func exportAudit(sinceMillis: Int64, untilMillis: Int64, pageSize: Int,
                            _ body: ([RecordedAuditEvent]) throws -> Void) async throws -> Int {
        var cursor: Int64 = 0
        var total = 0
        while true {
            let after = cursor
            let page = try await writer.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT * FROM audit_event WHERE seq > ? AND time_ms >= ? AND time_ms < ? ORDER BY seq LIMIT ?
                    """, arguments: [after, sinceMillis, untilMillis, pageSize]).map(Self.recorded)
            }
            guard let last = page.last else { return total }
            try body(page)
            total += page.count
            cursor = last.seq
        }
    }

    public func commitAuditArchive(_ record: AuditArchiveRecord, keys: Set<String>, after anchor: AuditVerifier.Anchor) async throws {
        try await write { db in
            try Self.commitArchive(record, after: anchor, db)
            try Self.insertArchiveKeys(keys, firstSeq: record.firstSeq, db)
        }
    }

    /// Records the range and deletes its events, in the caller's transaction, after checking nothing moved
    /// since the file was written (another archiver, or rows changed): then nothing is deleted.
    static func commitArchive(_ record: AuditArchiveRecord, after anchor: AuditVerifier.Anchor, _ db: Database) throws {
        let current = try auditArchives(db).last?.anchor ?? .genesis
        let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, MAX(seq) AS last FROM audit_event WHERE seq BETWEEN ? AND ?",
                                   arguments: [record.firstSeq, record.lastSeq])
        let lastHash = try String.fetchOne(db, sql: "SELECT hash FROM audit_event WHERE seq = ?", arguments: [record.lastSeq])
        guard current == anchor, row?["n"] == record.eventCount, lastHash == record.lastHash else {
            throw TollgateError(.concurrentChange, "seq \(record.firstSeq)…\(record.lastSeq) changed while it was being archived; "
                + "nothing was deleted")
        }
        try db.execute(sql: """
            INSERT INTO audit_archive (first_seq, last_seq, prev_hash, last_hash, event_count, file, file_sha256, archived_at, indexed)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
            """, arguments: [record.firstSeq, record.lastSeq, record.previousHash, record.lastHash, record.eventCount, record.file,
                             record.fileSHA256, record.archivedAtMillis])
        try db.execute(sql: "DELETE FROM audit_event WHERE seq BETWEEN ? AND ?", arguments: [record.firstSeq, record.lastSeq])
    }

    static func auditArchives(_ db: Database) throws -> [AuditArchiveRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM audit_archive ORDER BY first_seq").map { row in
            AuditArchiveRecord(firstSeq: row["first_seq"], lastSeq: row["last_seq"], previousHash: row["prev_hash"], lastHash: row["last_hash"],
                               eventCount: row["event_count"], file: row["file"], fileSHA256: row["file_sha256"],
                               archivedAtMillis: row["archived_at"], indexed: row["indexed"])
        }
    }

    static func auditSequenceValue(_ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'audit_event'")
    }
}
