import Foundation
import GRDB
import Logging
import ServiceLifecycle
import TollgateCore

/// One archived range of the audit log: its events are in `file`, and the live chain continues from `lastHash`.
public struct AuditArchiveRecord: Sendable, Hashable, Codable {
    public var firstSeq: Int64
    public var lastSeq: Int64
    /// The `prev_hash` of the first event: the previous range's `lastHash` (genesis for the first range).
    public var previousHash: String
    public var lastHash: String
    public var eventCount: Int
    /// The file name inside the archive directory.
    public var file: String
    /// SHA-256 (hex) of the whole file, as written.
    public var fileSHA256: String
    public var archivedAtMillis: Int64

    /// Where the chain continues from after this range.
    public var anchor: AuditVerifier.Anchor { .init(seq: lastSeq, hash: lastHash) }
}

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

    /// Every archived range, oldest first.
    public func auditArchives() async throws -> [AuditArchiveRecord] {
        try await writer.read { db in try Self.auditArchives(db) }
    }

    /// Up to `limit` events with seq above `seq`, in seq order: a page of the log.
    public func auditEvents(after seq: Int64, limit: Int) async throws -> [RecordedAuditEvent] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]).map(Self.recorded)
        }
    }

    /// The highest seq SQLite ever assigned to an audit event (it survives deletion); nil before the first.
    public func auditSequenceValue() async throws -> Int64? {
        try await writer.read { db in try Self.auditSequenceValue(db) }
    }

    /// Streams the live events with `sinceMillis <= time_ms < untilMillis` in seq order, a page at a time.
    /// - Returns: how many events were passed to `body`.
    @discardableResult
    public func exportAudit(sinceMillis: Int64, untilMillis: Int64 = .max, pageSize: Int = 1000,
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

    /// Applies `retention` now: archives every event older than its cutoff, in files of up to
    /// `maxEventsPerFile`, and returns what was archived (empty when nothing was old enough).
    /// `onArchived` sees each range as soon as it is committed, so ranges archived before a later range
    /// fails are still reported (the failed range itself is not deleted).
    public func archiveAuditLog(_ retention: AuditRetention, nowMillis: Int64 = SystemClock().nowMillis(), maxEventsPerFile: Int = 100_000,
                                onArchived: (AuditArchiveRecord) -> Void = { _ in }) async throws -> [AuditArchiveRecord] {
        var archived: [AuditArchiveRecord] = []
        while let record = try await archiveAudit(olderThanMillis: retention.cutoffMillis(now: nowMillis),
                                                  directory: retention.archiveDirectory, maxEvents: maxEventsPerFile, nowMillis: nowMillis) {
            archived.append(record)
            onArchived(record)
        }
        return archived
    }

    /// Archives the oldest live events with `time_ms < cutoff` (at most `maxEvents`): a prefix in seq order
    /// that stops at the first event not old enough, and never takes the newest event (the next append
    /// links to it). The events are written to `audit-<first>-<last>.jsonl` in `directory` (temporary
    /// file, fsync, rename); then one transaction records the range and deletes exactly those events.
    /// A range whose chain does not hold is not archived (`AuditLogError.chainBroken`): run `audit verify`.
    /// - Returns: the archived range, or nil when no event is old enough.
    public func archiveAudit(olderThanMillis cutoff: Int64, directory: String, maxEvents: Int = 100_000,
                             nowMillis: Int64 = SystemClock().nowMillis()) async throws -> AuditArchiveRecord? {
        let (anchor, newest) = try await writer.read { db in
            (try Self.auditArchives(db).last?.anchor ?? .genesis, try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_event"))
        }
        guard let newest else { return nil }
        var verifier = AuditVerifier(anchor: anchor, keys: auditKeys)
        var file: AuditArchiveWriter?
        var first: RecordedAuditEvent?
        var last: RecordedAuditEvent?
        var count = 0
        var cursor: Int64 = 0
        let record: AuditArchiveRecord
        do {
            // Whatever fails before the rename (a read, a write, a broken chain) leaves no temporary file behind.
            scan: while count < maxEvents {
                let page = try await auditEvents(after: cursor, limit: min(1000, maxEvents - count))
                guard !page.isEmpty else { break }
                for event in page {
                    guard event.seq < newest, event.event.timeMillis < cutoff, count < maxEvents else { break scan }
                    if file == nil { file = try AuditArchiveWriter(directory: directory) }
                    try file?.append(event)
                    verifier.consume(event)
                    if first == nil { first = event }
                    last = event
                    count += 1
                }
                cursor = page[page.count - 1].seq
            }
            guard var archive = file, let first, let last else { return nil }
            let report = verifier.finish(sequenceValue: nil)
            guard report.isIntact else {
                throw AuditLogError(.chainBroken, "the audit chain does not hold in seq \(first.seq)…\(last.seq) "
                    + "(\(report.findings[0])); nothing was archived: run tollgate audit verify")
            }
            let name = AuditArchiveWriter.fileName(firstSeq: first.seq, lastSeq: last.seq)
            let digest = try archive.commit(as: name)
            record = AuditArchiveRecord(firstSeq: first.seq, lastSeq: last.seq, previousHash: first.previousHash, lastHash: last.hash,
                                        eventCount: count, file: name, fileSHA256: digest, archivedAtMillis: nowMillis)
        } catch {
            file?.discard()
            throw error
        }
        try await write { db in try Self.commitArchive(record, after: anchor, db) }
        return record
    }

    /// Records the range and deletes its events, in the caller's transaction, after checking nothing moved
    /// since the file was written (another archiver, or rows changed): then nothing is deleted.
    static func commitArchive(_ record: AuditArchiveRecord, after anchor: AuditVerifier.Anchor, _ db: Database) throws {
        let current = try auditArchives(db).last?.anchor ?? .genesis
        let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, MAX(seq) AS last FROM audit_event WHERE seq BETWEEN ? AND ?",
                                   arguments: [record.firstSeq, record.lastSeq])
        let lastHash = try String.fetchOne(db, sql: "SELECT hash FROM audit_event WHERE seq = ?", arguments: [record.lastSeq])
        guard current == anchor, row?["n"] == record.eventCount, lastHash == record.lastHash else {
            throw AuditLogError(.concurrentChange, "seq \(record.firstSeq)…\(record.lastSeq) changed while it was being archived; "
                + "nothing was deleted")
        }
        try db.execute(sql: """
            INSERT INTO audit_archive (first_seq, last_seq, prev_hash, last_hash, event_count, file, file_sha256, archived_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [record.firstSeq, record.lastSeq, record.previousHash, record.lastHash, record.eventCount, record.file,
                             record.fileSHA256, record.archivedAtMillis])
        try db.execute(sql: "DELETE FROM audit_event WHERE seq BETWEEN ? AND ?", arguments: [record.firstSeq, record.lastSeq])
    }

    static func auditArchives(_ db: Database) throws -> [AuditArchiveRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM audit_archive ORDER BY first_seq").map { row in
            AuditArchiveRecord(firstSeq: row["first_seq"], lastSeq: row["last_seq"], previousHash: row["prev_hash"], lastHash: row["last_hash"],
                               eventCount: row["event_count"], file: row["file"], fileSHA256: row["file_sha256"],
                               archivedAtMillis: row["archived_at"])
        }
    }

    static func auditSequenceValue(_ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'audit_event'")
    }
}

extension SQLiteStore: AuditRetaining {
    public func auditRetentionService(_ retention: AuditRetention, logger: Logger) -> any Service {
        AuditRetentionService(store: self, retention: retention, logger: logger)
    }
}
