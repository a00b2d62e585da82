import Foundation
import GRDB
import Logging
import Testing
import TollgateCore
@testable import TollgateSQLite

@Suite struct AuditArchiveTests {
    static let day: Int64 = 86_400_000
    static let now: Int64 = 1_750_000_000_000

    /// Appends `times.count` events (one per call, as the gateway does), flow ids `tg_<seq>`.
    static func fill(_ store: SQLiteStore, times: [Int64]) async throws {
        for (index, time) in times.enumerated() {
            try await store.append([AuditEvent(correlationId: "tg_\(index + 1)", timeMillis: time, stage: .respond, outcome: .ok,
                                               reason: "delivered", clientId: "alice", resource: "datasets",
                                               details: ["status": "200", "path": "/datasets/\(index + 1)"])])
        }
    }

    static func execute(_ store: SQLiteStore, _ sql: String, _ arguments: StatementArguments = []) async throws {
        try await store.writer.write { db in try db.execute(sql: sql, arguments: arguments) }
    }

    static func summary(_ report: AuditVerifier.Report) -> [String] { report.findings.map { "\($0.kind) \($0.seq)" } }

    @Test func anUntouchedLogVerifies() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        try await Self.fill(database.store, times: (1...10).map { Self.now + $0 })
        let report = try await database.store.verifyAuditLog()
        #expect(report.isIntact)
        #expect(report.events == 10)
        let last = try #require(try await database.store.auditEvents(after: 9, limit: 5).first)
        #expect(report.head == .init(seq: 10, hash: last.hash))
        #expect(try await database.store.auditSequenceValue() == 10)
    }

    @Test func anEditedRowIsNamed() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        try await Self.fill(database.store, times: (1...10).map { Self.now + $0 })
        try await Self.execute(database.store, #"UPDATE audit_event SET details = '{"path":"/datasets/4","status":"500"}' WHERE seq = 4"#)
        let report = try await database.store.verifyAuditLog()
        #expect(Self.summary(report) == ["edited 4"])
        #expect(report.findings.first?.correlationId == "tg_4")
    }

    @Test func aDeletedRowIsNamed() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        try await Self.fill(database.store, times: (1...10).map { Self.now + $0 })
        try await Self.execute(database.store, "DELETE FROM audit_event WHERE seq = 5")
        let report = try await database.store.verifyAuditLog()
        #expect(Self.summary(report) == ["deleted 6"])
        #expect(report.findings.first?.explanation.contains("seq 5 is missing") == true)
    }

    @Test func aDeletedTailIsFoundThroughSQLiteSequence() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        try await Self.fill(database.store, times: (1...10).map { Self.now + $0 })
        try await Self.execute(database.store, "DELETE FROM audit_event WHERE seq >= 9")
        let report = try await database.store.verifyAuditLog()
        #expect(Self.summary(report) == ["deleted 9"])
        #expect(report.head.seq == 8)
    }

    @Test func swappedRowsAreReordered() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        try await Self.fill(database.store, times: (1...10).map { Self.now + $0 })
        // Every column but seq exchanged between seq 3 and seq 7.
        try await database.store.writer.write { db in
            try db.execute(sql: "UPDATE audit_event SET seq = -3 WHERE seq = 3")
            try db.execute(sql: "UPDATE audit_event SET seq = 3 WHERE seq = 7")
            try db.execute(sql: "UPDATE audit_event SET seq = 7 WHERE seq = -3")
        }
        let report = try await database.store.verifyAuditLog()
        #expect(Self.summary(report) == ["reordered 3", "reordered 7"])
        #expect(report.findings.map(\.correlationId) == ["tg_7", "tg_3"])
    }

    @Test func exportSelectsByTimeInSeqOrderAndCarriesTheHashInputs() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        // Seq 6 is written late with an early time (a batched event): it is before `since`.
        try await Self.fill(database.store, times: [1_000, 2_000, 3_000, 4_000, 5_000, 500, 6_000, 7_000])
        var lines: [[UInt8]] = []
        let count = try await database.store.exportAudit(sinceMillis: 3_000, untilMillis: 7_000, pageSize: 2) { page in
            lines += page.map(AuditJSONL.line)
        }
        #expect(count == 4)
        let decoded = try lines.map { try AuditJSONL.decode($0.dropLast()) }
        #expect(decoded.map(\.seq) == [3, 4, 5, 7])
        for record in decoded {
            #expect(AuditChain.hash(previous: record.previousHash, event: record.event) == record.hash)
        }
        let text = String(decoding: lines[0], as: UTF8.self)
        #expect(text.hasPrefix(#"{"seq":3,"time":"1970-01-01T00:00:03.000Z","timeMillis":3000,"correlationId":"tg_3","stage":"respond""#))
        #expect(text.hasSuffix("\"}\n"))
    }

    @Test func archivingMovesAnOldPrefixToAFileAndTheChainStillVerifies() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let directory = database.directory.appendingPathComponent("archive").path
        // Seq 1–4 are old, seq 5 is recent, seq 6 is old again: archiving stops at seq 5, never leaving a hole.
        try await Self.fill(store, times: [1, 2, 3, 4].map { Self.now - 40 * Self.day + $0 } + [Self.now - 1, Self.now - 40 * Self.day, Self.now])
        let retention = AuditRetention(retentionDays: 30, archiveDirectory: directory)
        let archived = try await store.archiveAuditLog(retention, nowMillis: Self.now)
        let record = try #require(archived.first)
        #expect(archived.count == 1)
        #expect((record.firstSeq, record.lastSeq, record.eventCount, record.file) == (1, 4, 4, "audit-1-4.jsonl"))
        #expect(try await store.auditEvents(after: 0, limit: 100).map(\.seq) == [5, 6, 7])
        let file = try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(record.file))
        var digest = AuditJSONL.Digest()
        digest.update(file)
        #expect(digest.finalize() == record.fileSHA256)
        #expect(file.split(separator: UInt8(ascii: "\n")).count == 4)
        #expect(try await store.archiveAuditLog(retention, nowMillis: Self.now).isEmpty)

        let live = try await store.verifyAuditLog()
        #expect(live.isIntact)
        #expect((live.anchor.seq, live.firstSeq, live.events) == (4, 5, 3))
        try await Self.fill(store, times: [Self.now + 1])
        let whole = try await store.verifyAuditLog(archives: directory)
        #expect(whole.isIntact)
        #expect((whole.firstSeq, whole.events, whole.head.seq) == (1, 8, 8))

        // A head published before the archive (`--expect-head`) is found in the archive file, with its hash.
        #expect(try await store.holds(AuditHead(seq: 3, hash: "x")) == nil)
        let archivedThird = AuditVerifier.archivedHash(seq: 3, archives: try await store.auditArchives(), directory: directory)
        let third = try #require(AuditJSONL.decode(try #require(file.split(separator: UInt8(ascii: "\n")).dropFirst(2).first)))
        #expect(archivedThird == third.hash)
        #expect(AuditVerifier.archivedHash(seq: 5, archives: try await store.auditArchives(), directory: directory) == nil)
    }

    @Test func theNewestEventIsNeverArchivedSoTheChainContinues() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let directory = database.directory.appendingPathComponent("archive").path
        try await Self.fill(database.store, times: [1, 2, 3])
        let archived = try await database.store.archiveAuditLog(.init(retentionDays: 1, archiveDirectory: directory), nowMillis: Self.now,
                                                                maxEventsPerFile: 1)
        #expect(archived.map(\.file) == ["audit-1-1.jsonl", "audit-2-2.jsonl"])
        try await Self.fill(database.store, times: [4])
        #expect(try await database.store.verifyAuditLog(archives: directory).isIntact)
        #expect(try await database.store.verifyAuditLog().isIntact)
    }

    @Test func aTamperedOrMissingArchiveFileIsDetected() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let directory = database.directory.appendingPathComponent("archive").path
        try await Self.fill(database.store, times: [1, 2, 3, 4, 5, 6, Self.now])
        let archived = try await database.store.archiveAuditLog(.init(retentionDays: 1, archiveDirectory: directory), nowMillis: Self.now,
                                                                maxEventsPerFile: 3)
        #expect(archived.map(\.file) == ["audit-1-3.jsonl", "audit-4-6.jsonl"])
        let first = URL(fileURLWithPath: directory).appendingPathComponent("audit-1-3.jsonl")
        let text = try String(contentsOf: first, encoding: .utf8)
        try text.replacingOccurrences(of: #""status":"200""#, with: #""status":"201""#, options: [], range: text.range(of: "\n")
            .map { $0.upperBound..<text.endIndex }).write(to: first, atomically: true, encoding: .utf8)

        let edited = try await database.store.verifyAuditLog(archives: directory)
        #expect(Self.summary(edited).sorted() == ["edited 1", "edited 2", "edited 3"])
        #expect(edited.findings.contains { $0.source == "audit-1-3.jsonl" && $0.explanation.contains("sha256") })
        // The live table alone still verifies: the archive check needs --archives.
        #expect(try await database.store.verifyAuditLog().isIntact)

        try FileManager.default.removeItem(at: URL(fileURLWithPath: directory).appendingPathComponent("audit-4-6.jsonl"))
        let missing = try await database.store.verifyAuditLog(archives: directory)
        #expect(missing.findings.contains { $0.kind == .deleted && $0.seq == 4 && $0.source == "audit-4-6.jsonl" })
        #expect(!missing.findings.contains { $0.seq == 7 })
    }

    @Test func aBrokenChainIsNeverArchived() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let directory = database.directory.appendingPathComponent("archive").path
        try await Self.fill(database.store, times: [1, 2, 3, 4])
        try await Self.execute(database.store, "UPDATE audit_event SET reason = 'edited' WHERE seq = 2")
        let broken = await #expect(throws: TollgateError.self) {
            try await database.store.archiveAuditLog(.init(retentionDays: 1, archiveDirectory: directory), nowMillis: Self.now)
        }
        #expect(broken?.code == .chainBroken)
        #expect(try await database.store.auditEvents(after: 0, limit: 10).count == 4)
        #expect(try await database.store.auditArchives().isEmpty)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        #expect(leftovers.isEmpty)
    }

    @Test func theRetentionServiceArchivesOnItsRun() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let directory = database.directory.appendingPathComponent("archive").path
        try await Self.fill(database.store, times: [1, 2, Self.now])
        let service = AuditRetentionService(store: database.store, retention: .init(retentionDays: 7, archiveDirectory: directory),
                                            clock: FixedTestClock(millis: Self.now), logger: Logger(label: "test"))
        #expect(await service.runOnce().map(\.lastSeq) == [2])
        #expect(await service.runOnce().isEmpty)
    }
}

struct FixedTestClock: GatewayClock {
    let millis: Int64
    func nowMillis() -> Int64 { millis }
}
