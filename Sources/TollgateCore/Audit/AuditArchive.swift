import Foundation
import Logging
import ServiceLifecycle

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
    /// Whether the store knows which flows, payers, transactions and nonces the file names (`AuditArchiveSearch.lookupKeys`),
    /// so support reads the file only for those. A range archived before the index (or whose index was not recorded) is
    /// read for every lookup until `tollgate audit index-archives` records it.
    public var indexed: Bool

    public init(firstSeq: Int64, lastSeq: Int64, previousHash: String, lastHash: String, eventCount: Int, file: String, fileSHA256: String,
                archivedAtMillis: Int64, indexed: Bool = true) {
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.previousHash = previousHash
        self.lastHash = lastHash
        self.eventCount = eventCount
        self.file = file
        self.fileSHA256 = fileSHA256
        self.archivedAtMillis = archivedAtMillis
        self.indexed = indexed
    }

    /// Where the chain continues from after this range.
    public var anchor: AuditVerifier.Anchor { .init(seq: lastSeq, hash: lastHash) }
}

/// The audit log beyond appending: reading it in pages, verifying it, exporting it and archiving it (retention).
/// The archiving itself (which events, the file, the chain check) is decided here, once for every store; the
/// store only records a range and deletes its events, atomically (`commitAuditArchive`).
public protocol AuditLogStore: AuditHeadReading, AuditRetaining {
    /// The audit chain's keys (`KeyRing.auditKeys()`); nil for the unkeyed chain of earlier versions.
    var auditKeys: KeyRing? { get }

    /// Every archived range, oldest first.
    func auditArchives() async throws -> [AuditArchiveRecord]

    /// The archived ranges whose files may hold one of `keys` (lowercase `AuditArchiveSearch.lookupKeys`: correlation
    /// ids, payers, transactions, nonces), oldest first: those whose index names one, and every range without an index.
    func auditArchives(holding keys: Set<String>) async throws -> [AuditArchiveRecord]

    /// Up to `limit` live events with seq above `seq`, in seq order: a page of the log.
    func auditEvents(after seq: Int64, limit: Int) async throws -> [RecordedAuditEvent]

    /// The most recent events of one stage, oldest first: for `admin`, who revoked or switched what, when.
    func auditEvents(stage: AuditEvent.Stage, limit: Int) async throws -> [RecordedAuditEvent]

    /// The highest seq ever assigned to an audit event (it survives deletion); nil before the first.
    func auditSequenceValue() async throws -> Int64?

    /// Whether the log still holds `head` as it was published: the event of that seq, live or the last of an
    /// archived range, with that hash. Nil when the event is inside an archived range (check it with the archives).
    func holds(_ head: AuditHead) async throws -> Bool?

    /// Verifies the hash chain from one consistent view of the log: from the latest archive anchor (checking
    /// the links between archived ranges), or, with `archives` (the archive directory), from genesis through
    /// every archive file (`AuditVerifier.continuing(archives:directory:keys:)` prepares either).
    func verifyAuditLog(archives directory: String?) async throws -> AuditVerifier.Report

    /// Streams the live events with `sinceMillis <= time_ms < untilMillis` in seq order, a page at a time.
    /// - Returns: how many events were passed to `body`.
    @discardableResult
    func exportAudit(sinceMillis: Int64, untilMillis: Int64, pageSize: Int, _ body: ([RecordedAuditEvent]) throws -> Void) async throws -> Int

    /// Records an archived range and deletes exactly its live events, in one transaction, after checking that
    /// nothing moved since the file was written (the latest archive anchor is still `anchor`, the range's events
    /// are all there and its last hash is unchanged); otherwise throws `TollgateError` `.concurrentChange` and
    /// deletes nothing. `keys` (the range's `AuditArchiveSearch.lookupKeys`) are recorded as its index in the same
    /// transaction, and the range is recorded as indexed.
    func commitAuditArchive(_ record: AuditArchiveRecord, keys: Set<String>, after anchor: AuditVerifier.Anchor) async throws

    /// Records the index of a range archived without one (`tollgate audit index-archives`, after reading its file) and
    /// marks it indexed. Throws `TollgateError` `.notFound` when no range starts at `firstSeq`.
    func indexAuditArchive(firstSeq: Int64, keys: Set<String>) async throws
}

extension AuditLogStore {
    public func verifyAuditLog() async throws -> AuditVerifier.Report { try await verifyAuditLog(archives: nil) }

    public func auditEvents(stage: AuditEvent.Stage) async throws -> [RecordedAuditEvent] { try await auditEvents(stage: stage, limit: 1000) }

    /// `exportAudit` a thousand events a page.
    @discardableResult
    public func exportAudit(sinceMillis: Int64, untilMillis: Int64 = .max, _ body: ([RecordedAuditEvent]) throws -> Void) async throws -> Int {
        try await exportAudit(sinceMillis: sinceMillis, untilMillis: untilMillis, pageSize: 1000, body)
    }

    public func auditRetentionService(_ retention: AuditRetention, logger: Logger) -> any Service {
        AuditRetentionService(store: self, retention: retention, logger: logger)
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
    /// A range whose chain does not hold is not archived (`TollgateError` `.chainBroken`): run `audit verify`.
    /// - Returns: the archived range, or nil when no event is old enough.
    public func archiveAudit(olderThanMillis cutoff: Int64, directory: String, maxEvents: Int = 100_000,
                             nowMillis: Int64 = SystemClock().nowMillis()) async throws -> AuditArchiveRecord? {
        let anchor = try await auditArchives().last?.anchor ?? .genesis
        guard let newest = try await auditHead()?.seq else { return nil }
        var verifier = AuditVerifier(anchor: anchor, keys: auditKeys)
        var file: AuditArchiveWriter?
        var first: RecordedAuditEvent?
        var last: RecordedAuditEvent?
        var count = 0
        var cursor: Int64 = 0
        var keys = Set<String>()
        let record: AuditArchiveRecord
        do {
            // Whatever fails before the rename (a read, a write, a broken chain) leaves no temporary file behind.
            scan: while count < maxEvents {
                let page = try await auditEvents(after: cursor, limit: min(1000, maxEvents - count))
                guard !page.isEmpty else { break }
                for event in page {
                    guard event.seq < newest, event.event.timeMillis < cutoff, count < maxEvents else { break scan }
                    if file == nil { file = try AuditArchiveWriter(directory: directory) }
                    try await file?.append(event)
                    verifier.consume(event)
                    AuditArchiveSearch.lookupKeys(of: event.event, into: &keys)
                    if first == nil { first = event }
                    last = event
                    count += 1
                }
                cursor = page[page.count - 1].seq
            }
            guard let archive = file, let first, let last else { return nil }
            let report = verifier.finish(sequenceValue: nil)
            guard report.isIntact else {
                throw TollgateError(.chainBroken, "the audit chain does not hold in seq \(first.seq)…\(last.seq) "
                    + "(\(report.findings[0])); nothing was archived: run tollgate audit verify")
            }
            let name = AuditArchiveWriter.fileName(firstSeq: first.seq, lastSeq: last.seq)
            let digest = try await archive.commitOffLoop(as: name)
            record = AuditArchiveRecord(firstSeq: first.seq, lastSeq: last.seq, previousHash: first.previousHash, lastHash: last.hash,
                                        eventCount: count, file: name, fileSHA256: digest, archivedAtMillis: nowMillis)
        } catch {
            file?.discard()
            throw error
        }
        try await commitAuditArchive(record, keys: keys, after: anchor)
        return record
    }
}

extension AuditVerifier {
    /// A verifier ready for the live events: from the latest archive anchor after checking the links between
    /// the recorded ranges, or, with `directory`, from genesis after walking every archive file.
    public static func continuing(archives records: [AuditArchiveRecord], directory: String?, keys: KeyRing?) -> AuditVerifier {
        var verifier: AuditVerifier
        if let directory {
            verifier = AuditVerifier(anchor: .genesis, keys: keys)
            for record in records { verifyArchiveFile(record, directory: directory, &verifier) }
        } else {
            verifier = AuditVerifier(anchor: records.last?.anchor ?? .genesis, keys: keys)
            checkArchiveLinks(records, &verifier)
        }
        return verifier
    }

    /// The hash of the archived event at `seq`, read from the file of the range that holds it in `directory`; nil when no
    /// recorded range holds it or its file does not (the file's own integrity is what `continuing(archives:…)` checks).
    public static func archivedHash(seq: Int64, archives records: [AuditArchiveRecord], directory: String) -> String? {
        guard let record = records.first(where: { $0.firstSeq <= seq && seq <= $0.lastSeq }) else { return nil }
        let path = URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent(record.file).path
        guard var reader = try? AuditArchiveReader(path: path) else { return nil }
        defer { reader.close() }
        while let line = try? reader.next() {
            if let event = try? AuditJSONL.decode(line), event.seq == seq { return event.hash }
        }
        return nil
    }

    /// The archived ranges recorded in the database must follow each other with no gap, from genesis.
    static func checkArchiveLinks(_ records: [AuditArchiveRecord], _ verifier: inout AuditVerifier) {
        var previous = AuditVerifier.Anchor.genesis
        for record in records {
            if record.firstSeq != previous.seq &+ 1 || record.previousHash != previous.hash {
                let what = record.firstSeq != previous.seq &+ 1
                    ? "seq \(previous.seq &+ 1)…\(record.firstSeq &- 1) are in no archived range"
                    : "its first event links to \(AuditVerifier.short(record.previousHash)), not to seq \(previous.seq)"
                verifier.report(.init(kind: .deleted, seq: record.firstSeq, correlationId: nil, source: "audit_archive",
                                      explanation: "the archived range seq \(record.firstSeq)…\(record.lastSeq) (\(record.file)) "
                                          + "does not continue the one before it: \(what)"))
            }
            previous = record.anchor
        }
    }

    /// Feeds one archive file to the verifier and checks it against what the database recorded for it.
    static func verifyArchiveFile(_ record: AuditArchiveRecord, directory: String, _ verifier: inout AuditVerifier) {
        let path = URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent(record.file).path
        let range = "seq \(record.firstSeq)…\(record.lastSeq)"
        func finding(_ kind: AuditVerifier.Finding.Kind, _ seq: Int64, _ explanation: String) {
            verifier.report(.init(kind: kind, seq: seq, correlationId: nil, source: record.file, explanation: explanation))
        }
        guard FileManager.default.fileExists(atPath: path), var reader = try? AuditArchiveReader(path: path) else {
            finding(.deleted, record.firstSeq, "the archive file of \(range) (\(record.eventCount) events) is missing from \(directory)")
            verifier.skip(to: record.anchor)
            return
        }
        var count = 0
        var first: Int64?
        var last: RecordedAuditEvent?
        do {
            while let line = try reader.next() {
                do {
                    let event = try AuditJSONL.decode(line)
                    verifier.consume(event, source: record.file)
                    count += 1
                    if first == nil { first = event.seq }
                    last = event
                } catch {
                    finding(.edited, (last?.seq ?? record.firstSeq &- 1) &+ 1, "line \(reader.lineNumber) is not a valid audit event (\(error.message))")
                }
            }
        } catch {
            finding(.deleted, (last?.seq ?? record.firstSeq &- 1) &+ 1, "the file could not be read to the end (\(error.message))")
        }
        reader.close()
        let digest = reader.digest.finalize()
        if digest != record.fileSHA256 {
            finding(.edited, record.firstSeq, "the file's sha256 \(AuditVerifier.short(digest)) differs from "
                + "\(AuditVerifier.short(record.fileSHA256)) recorded when it was archived: the file was changed")
        }
        if first != record.firstSeq || last?.seq != record.lastSeq || count != record.eventCount {
            let holds = first.map { "seq \($0)…\(last?.seq ?? $0) (\(count) events)" } ?? "no event"
            finding(count < record.eventCount ? .deleted : .edited, record.firstSeq,
                    "the file holds \(holds), but \(range) (\(record.eventCount) events) was archived in it")
        }
        if last?.seq != record.lastSeq || last?.hash != record.lastHash {
            // Check what follows against the range's recorded end, not against the damaged file.
            verifier.skip(to: record.anchor)
        }
    }
}

extension AuditHead {
    /// Whether a log holds this head: `liveHash` is the hash of the live event with this seq, if any.
    /// Nil when the seq is inside an archived range other than as its last event.
    public func isHeld(liveHash: String?, archives: [AuditArchiveRecord]) -> Bool? {
        if let liveHash { return liveHash == hash }
        for record in archives where (record.firstSeq...record.lastSeq).contains(seq) {
            return record.lastSeq == seq ? record.anchor.hash == hash : nil
        }
        return false
    }
}
