import Foundation
import GRDB
import TollgateCore

extension SQLiteStore {
    /// Verifies the audit hash chain, reading everything from one snapshot of the database and streaming
    /// rows (bounded memory whatever the size of the log).
    ///
    /// Without `archives`, the live table is checked from the latest archive anchor, together with the
    /// links between the archived ranges the database records. With `archives` (the archive directory),
    /// the chain is walked from genesis through every archive file (each file's SHA-256 is compared with
    /// the one recorded when it was written) and on into the live table.
    public func verifyAuditLog(archives directory: String? = nil) async throws -> AuditVerifier.Report {
        try await writer.read { db in
            let records = try Self.auditArchives(db)
            var verifier: AuditVerifier
            if let directory {
                verifier = AuditVerifier(anchor: .genesis, keys: auditKeys)
                for record in records { Self.verifyArchiveFile(record, directory: directory, &verifier) }
            } else {
                verifier = AuditVerifier(anchor: records.last?.anchor ?? .genesis, keys: auditKeys)
                Self.checkArchiveLinks(records, &verifier)
            }
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit_event ORDER BY seq")
            while let row = try cursor.next() { verifier.consume(Self.recorded(row)) }
            return verifier.finish(sequenceValue: try Self.auditSequenceValue(db))
        }
    }

    /// The archived ranges recorded in the database must follow each other with no gap, from genesis.
    static func checkArchiveLinks(_ records: [AuditArchiveRecord], _ verifier: inout AuditVerifier) {
        var previous = AuditVerifier.Anchor.genesis
        for record in records {
            if record.firstSeq != previous.seq + 1 || record.previousHash != previous.hash {
                let what = record.firstSeq != previous.seq + 1
                    ? "seq \(previous.seq + 1)…\(record.firstSeq - 1) are in no archived range"
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
                    finding(.edited, (last?.seq ?? record.firstSeq - 1) + 1, "line \(reader.lineNumber) is not a valid audit event (\(error.message))")
                }
            }
        } catch {
            finding(.deleted, (last?.seq ?? record.firstSeq - 1) + 1, "the file could not be read to the end (\(error.message))")
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
