import Foundation
import PostgresNIO
import TollgateCore

extension PostgresStore {
    // MARK: appending

    public func append(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        let keys = auditKeys, events = events.map(AuditChain.Prepared.init)
        try await database.write { tx in try await Self.append(events, tx, keys: keys) }
    }

    /// Appends events prepared inside the write (writes off the paid path).
    static func append(_ events: [AuditEvent], _ tx: PostgresTransaction, keys: KeyRing?) async throws {
        try await append(events.map(AuditChain.Prepared.init), tx, keys: keys)
    }

    /// Appends to the chain, in the caller's write transaction (so under the cluster-wide write lock: whichever
    /// instance writes, each event links to the one committed just before it). In a group commit the events wait for
    /// the batch's end (`flushAudit`), so a batch appends with one statement. With `keys` each hash is keyed and
    /// covers the event's seq, assigned here: one past the highest ever used (`audit_sequence`), so a deleted tail is
    /// never reused. The paid path's writes prepare their events before the write, on the caller's thread, not under
    /// the lock.
    static func append(_ events: [AuditChain.Prepared], _ tx: PostgresTransaction, keys: KeyRing?) async throws {
        guard !events.isEmpty else { return }
        if let pending = tx.audit { return pending.add(events, keys: keys) }
        try await insert(events, tx, keys: keys)
    }

    /// Inserts the group commit's pending events; before the commit, and before anything in the transaction reads the log.
    static func flushAudit(_ tx: PostgresTransaction) async throws {
        guard let pending = tx.audit?.take(), !pending.events.isEmpty else { return }
        try await insert(pending.events, tx, keys: pending.keys)
    }

    private static func insert(_ events: [AuditChain.Prepared], _ tx: PostgresTransaction, keys: KeyRing?) async throws {
        var (previous, seq) = try await auditHead(tx)
        // One statement per thousand events (and the sequence with them), not a round trip per event.
        for start in stride(from: events.startIndex, to: events.endIndex, by: 1000) {
            var rows = AuditInsertStatement(capacity: min(1000, events.endIndex - start))
            for prepared in events[start..<min(start + 1000, events.endIndex)] {
                seq += 1
                let hash = prepared.hash(previous: previous, seq: seq, keys: keys)
                rows.append(prepared, seq: seq, previous: previous, hash: hash)
                previous = hash
            }
            _ = try await tx.run(rows)
        }
        tx.audit?.appended(hash: previous, seq: seq)
    }

    /// The hash events are chained to and the last seq used: as the transaction's last append left them, otherwise read.
    static func auditHead(_ tx: PostgresTransaction) async throws -> (hash: String, seq: Int64) {
        if let head = tx.audit?.head { return head }
        guard let head = try await tx.run(AuditHeadStatement()).first else {
            throw TollgateError(.storeUnavailable, "PostgreSQL returned no audit chain head")
        }
        let (hash, seq) = try head.decode((String?, Int64).self)
        return (hash ?? AuditChain.genesis, seq)
    }

    // MARK: reading

    public func events(correlationId: String) async throws -> [RecordedAuditEvent] {
        try await database.read { tx in
            try await tx.rows("SELECT * FROM audit_event WHERE correlation_id = \(correlationId) ORDER BY time_ms, seq").map(Self.recorded)
        }
    }

    public func auditEvents(stage: AuditEvent.Stage, limit: Int) async throws -> [RecordedAuditEvent] {
        try await database.read { tx in
            try await tx.rows("SELECT * FROM audit_event WHERE stage = \(stage.rawValue) ORDER BY seq DESC LIMIT \(limit)")
                .reversed().map(Self.recorded)
        }
    }

    public func auditEvents(after seq: Int64, limit: Int) async throws -> [RecordedAuditEvent] {
        try await database.read { tx in
            try await tx.rows("SELECT * FROM audit_event WHERE seq > \(seq) ORDER BY seq LIMIT \(limit)").map(Self.recorded)
        }
    }

    public func auditSequenceValue() async throws -> Int64? {
        try await database.read { tx in try await Self.auditSequenceValue(tx) }
    }

    /// The highest seq ever assigned; nil before the first append (as SQLite's `sqlite_sequence`).
    static func auditSequenceValue(_ tx: PostgresTransaction) async throws -> Int64? {
        let value = try await tx.value("SELECT seq FROM audit_sequence WHERE id = 1", as: Int64.self) ?? 0
        return value > 0 ? value : nil
    }

    public func auditHead() async throws -> AuditHead? {
        try await database.read { tx in
            try await tx.row("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").map { AuditHead(seq: try $0.get("seq"), hash: try $0.get("hash")) }
        }
    }

    public func holds(_ head: AuditHead) async throws -> Bool? {
        try await database.read(snapshot: true) { tx in
            head.isHeld(liveHash: try await tx.value("SELECT hash FROM audit_event WHERE seq = \(head.seq)", as: String.self),
                        archives: try await Self.auditArchives(tx))
        }
    }

    /// Verifies the hash chain from one snapshot, a page of rows at a time (bounded memory whatever the size of the
    /// log), as SQLite's `verifyAuditLog` does.
    public func verifyAuditLog(archives directory: String?) async throws -> AuditVerifier.Report {
        let keys = auditKeys
        return try await database.read(snapshot: true) { tx in
            var verifier = AuditVerifier.continuing(archives: try await Self.auditArchives(tx), directory: directory, keys: keys)
            var after = Int64.min
            while true {
                let page = try await tx.rows("SELECT * FROM audit_event WHERE seq > \(after) ORDER BY seq LIMIT 5000").map(Self.recorded)
                guard let last = page.last else { break }
                for event in page { verifier.consume(event) }
                after = last.seq
            }
            return verifier.finish(sequenceValue: try await Self.auditSequenceValue(tx))
        }
    }

    @discardableResult
    public func exportAudit(sinceMillis: Int64, untilMillis: Int64, pageSize: Int,
                            _ body: ([RecordedAuditEvent]) throws -> Void) async throws -> Int {
        var cursor: Int64 = 0
        var total = 0
        while true {
            let after = cursor
            let page = try await database.read { tx in
                try await tx.rows("""
                    SELECT * FROM audit_event WHERE seq > \(after) AND time_ms >= \(sinceMillis) AND time_ms < \(untilMillis) ORDER BY seq LIMIT \(pageSize)
                    """).map(Self.recorded)
            }
            guard let last = page.last else { return total }
            try body(page)
            total += page.count
            cursor = last.seq
        }
    }

    // MARK: archiving

    public func auditArchives() async throws -> [AuditArchiveRecord] {
        try await database.read { tx in try await Self.auditArchives(tx) }
    }

    public func auditArchives(holding keys: Set<String>) async throws -> [AuditArchiveRecord] {
        let keys = keys.sorted()
        // One snapshot: a range committed between the two reads would show as indexed without its keys, and be skipped.
        return try await database.read(snapshot: true) { tx in
            let holding = Set(try await tx.values("SELECT DISTINCT first_seq FROM audit_archive_key WHERE key = ANY(\(keys))", as: Int64.self))
            return try await Self.auditArchives(tx).filter { !$0.indexed || holding.contains($0.firstSeq) }
        }
    }

    public func indexAuditArchive(firstSeq: Int64, keys: Set<String>) async throws {
        try await database.write { tx in
            guard try await tx.value("UPDATE audit_archive SET indexed = true WHERE first_seq = \(firstSeq) RETURNING first_seq", as: Int64.self) != nil else {
                throw TollgateError(.notFound, "no archived range starts at seq \(firstSeq)")
            }
            try await Self.insertArchiveKeys(keys, firstSeq: firstSeq, tx)
        }
    }

    static func insertArchiveKeys(_ keys: Set<String>, firstSeq: Int64, _ tx: PostgresTransaction) async throws {
        guard !keys.isEmpty else { return }
        try await tx.execute("""
            INSERT INTO audit_archive_key (key, first_seq) SELECT unnest(\(keys.sorted())::text[]), \(firstSeq) ON CONFLICT DO NOTHING
            """)
    }

    /// Records the range and deletes its events, after checking nothing moved since the file was written (another
    /// archiver, on this instance or another, or rows changed): then nothing is deleted.
    public func commitAuditArchive(_ record: AuditArchiveRecord, keys: Set<String>, after anchor: AuditVerifier.Anchor) async throws {
        try await database.write { tx in
            try await Self.flushAudit(tx)
            let current = try await Self.auditArchives(tx).last?.anchor ?? .genesis
            let count = try await tx.value("SELECT COUNT(*) FROM audit_event WHERE seq BETWEEN \(record.firstSeq) AND \(record.lastSeq)",
                                           as: Int64.self) ?? 0
            let lastHash = try await tx.value("SELECT hash FROM audit_event WHERE seq = \(record.lastSeq)", as: String.self)
            guard current == anchor, count == Int64(record.eventCount), lastHash == record.lastHash else {
                throw TollgateError(.concurrentChange, "seq \(record.firstSeq)…\(record.lastSeq) changed while it was being archived; "
                    + "nothing was deleted")
            }
            try await tx.execute("""
                INSERT INTO audit_archive (first_seq, last_seq, prev_hash, last_hash, event_count, file, file_sha256, archived_at, indexed)
                VALUES (\(record.firstSeq), \(record.lastSeq), \(record.previousHash), \(record.lastHash), \(record.eventCount), \(record.file),
                        \(record.fileSHA256), \(record.archivedAtMillis), true)
                """)
            try await Self.insertArchiveKeys(keys, firstSeq: record.firstSeq, tx)
            try await tx.execute("DELETE FROM audit_event WHERE seq BETWEEN \(record.firstSeq) AND \(record.lastSeq)")
            tx.audit?.forget()
        }
    }

    static func auditArchives(_ tx: PostgresTransaction) async throws -> [AuditArchiveRecord] {
        try await tx.rows("SELECT * FROM audit_archive ORDER BY first_seq").map { row in
            AuditArchiveRecord(firstSeq: try row.get("first_seq"), lastSeq: try row.get("last_seq"), previousHash: try row.get("prev_hash"),
                               lastHash: try row.get("last_hash"), eventCount: try row.get("event_count"), file: try row.get("file"),
                               fileSHA256: try row.get("file_sha256"), archivedAtMillis: try row.get("archived_at"), indexed: try row.get("indexed"))
        }
    }

    static func recorded(_ row: PostgresRandomAccessRow) throws -> RecordedAuditEvent {
        let event = AuditEvent(correlationId: try row.get("correlation_id"), timeMillis: try row.get("time_ms"),
                               stage: .init(try row.get("stage", as: String.self)),
                               outcome: AuditEvent.Outcome(rawValue: try row.get("outcome")) ?? .error,
                               reason: try row.get("reason"), clientId: try row.get("client_id"), resource: try row.get("resource"),
                               details: AuditEvent.details(fromJSON: try row.get("details")))
        return RecordedAuditEvent(seq: try row.get("seq"), event: event, previousHash: try row.get("prev_hash"), hash: try row.get("hash"))
    }
}
