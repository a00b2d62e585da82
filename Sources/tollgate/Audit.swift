import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateCore

/// `tollgate audit`: checks, exports and archives the hash-chained audit log (docs/audit.md).
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify, export and archive the tamper-evident audit log.",
        subcommands: [AuditVerify.self, AuditExport.self, AuditArchive.self, AuditIndexArchives.self])
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit hash chain; exit code 1 when an event was edited, deleted or reordered.")

    @OptionGroup var options: SupportStoreOptions

    @Option(help: "The archive directory: also check every archive file (its sha256 and chain) from the first event.")
    var archives: String?

    @Option(help: "SEQ:HASH of a head published earlier (audit.head_file, the log, the metric): exit 0 only when the log still reaches that event with that hash, intact.")
    var expectHead: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let expected = try expectHead.map { text -> AuditHead in
            guard let head = AuditHead(text) else { throw ValidationError("--expect-head expects SEQ:HASH, e.g. 1234:v2:k1:9f…") }
            return head
        }
        let (configuration, store) = try await options.load()
        var report = try await store.verifyAuditLog(archives: archives)
        // A chain rewritten from its start without the key links and recomputes: only the configuration says how much of
        // it may be unkeyed (what a gateway wrote before its chain was keyed).
        if let last = report.lastUnkeyedSeq, last > configuration.auditUnkeyedThroughSeq {
            let allowed = configuration.auditUnkeyedThroughSeq
            report.findings.append(.init(kind: .edited, seq: max(allowed + 1, report.firstSeq ?? 1), correlationId: nil, source: "audit.unkeyed_through_seq",
                                         explanation: "events up to seq \(last) have unkeyed hashes, and the configuration allows them through seq "
                                             + "\(allowed) only (audit.unkeyed_through_seq): they were written, or the chain rewritten, without the "
                                             + "audit key. If a Tollgate from before keyed chains wrote them, set audit.unkeyed_through_seq: \(last)"))
        }
        if let expected {
            switch try await store.holds(expected) {
            case true?:
                break
            case false?:
                let truncated = expected.seq > report.head.seq
                report.findings.append(.init(kind: .deleted, seq: expected.seq, correlationId: nil, source: "expected head",
                                             explanation: truncated
                                                 ? "the published head seq \(expected.seq) is past the last event (seq \(report.head.seq)): the tail was truncated"
                                                 : "the event at seq \(expected.seq) no longer has the published hash \(AuditVerifier.short(expected.hash)): the log was rewritten"))
            case nil:
                // Inside an archived range: the archive files say, when given (their integrity is checked above).
                let recorded = try await store.auditArchives()
                let archived = archives.map { AuditVerifier.archivedHash(seq: expected.seq, archives: recorded, directory: $0) }
                switch archived {
                case let hash?? where ConstantTime.equal(hash, expected.hash):
                    break
                case .some(.some):
                    report.findings.append(.init(kind: .edited, seq: expected.seq, correlationId: nil, source: "expected head",
                                                 explanation: "the archived event at seq \(expected.seq) does not have the published hash "
                                                     + "\(AuditVerifier.short(expected.hash)): the log was rewritten before it was archived"))
                case .some(nil):
                    report.findings.append(.init(kind: .deleted, seq: expected.seq, correlationId: nil, source: "expected head",
                                                 explanation: "seq \(expected.seq) is in no archive file in \(archives ?? "")"))
                case nil:
                    report.findings.append(.init(kind: .deleted, seq: expected.seq, correlationId: nil, source: "expected head",
                                                 explanation: "seq \(expected.seq) is inside an archived range: check it with --archives DIR against the archive files"))
                }
            }
        }
        report.findings.sort { ($0.seq, $0.kind.rawValue) < ($1.seq, $1.kind.rawValue) }
        let ranges = try await store.auditArchives()
        if json {
            print(try Trace.encoded(AuditVerifyOutput(intact: report.isIntact, report: report, archives: ranges,
                                                      archivesChecked: archives != nil)))
        } else {
            print(Self.text(report, archives: ranges, archivesChecked: archives != nil))
        }
        if !report.isIntact { throw ExitCode(1) }
    }

    static func text(_ report: AuditVerifier.Report, archives: [AuditArchiveRecord], archivesChecked: Bool) -> String {
        let span = report.firstSeq.map { ", seq \($0)…\(report.head.seq)" } ?? ""
        let scope = archivesChecked && !archives.isEmpty ? " (\(archives.count) archive file(s) and the live table)" : ""
        var lines: [String] = []
        if report.isIntact {
            lines.append("audit log intact: \(report.events) events\(scope)\(span), head \(report.head.hash)")
        } else {
            lines += report.findings.map(\.description)
            if report.omittedFindings > 0 { lines.append("… and \(report.omittedFindings) more finding(s), not listed") }
            lines.append("")
            lines.append("audit log NOT intact: \(report.findings.count + report.omittedFindings) finding(s) in \(report.events) events"
                + "\(scope)\(span), head \(report.head.hash)")
        }
        if !archivesChecked, report.anchor != .genesis {
            lines.append("continues from archived seq \(report.anchor.seq) (hash \(report.anchor.hash)); "
                + "add --archives DIR to check the \(archives.count) archive file(s) too")
        }
        lines.append("keep the head hash outside this host: a later run must reach the same event with the same hash")
        return lines.joined(separator: "\n")
    }
}

/// `audit verify --json`.
struct AuditVerifyOutput: Encodable {
    var intact: Bool
    var report: AuditVerifier.Report
    var archives: [AuditArchiveRecord]
    var archivesChecked: Bool
}

struct AuditExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the live audit events of a period as JSON Lines (one event per line, in seq order).")

    @OptionGroup var options: SupportStoreOptions

    @Option(help: "Start (inclusive): an ISO 8601 date or date-time (2025-06-01, 2025-06-01T12:00:00Z), or a duration back from now (90m, 24h, 7d).")
    var since: String

    @Option(help: "End (exclusive), same forms as --since; default: now and later.")
    var until: String?

    @Option(help: "Output format; only jsonl.")
    var format: String = "jsonl"

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
    var output: String?

    func validate() throws {
        guard format == "jsonl" else { throw ValidationError("unsupported format \(format): only jsonl is available") }
        let nowMillis = SystemClock().nowMillis()
        let sinceMillis: Int64, untilMillis: Int64?
        do throws(TollgateError) {
            sinceMillis = try AuditTime.millis(since, now: nowMillis)
            untilMillis = try until.map { value throws(TollgateError) in try AuditTime.millis(value, now: nowMillis) }
        } catch {
            throw ValidationError(error.message)
        }
        if let untilMillis, untilMillis <= sinceMillis { throw ValidationError("--until \(until ?? "") is not after --since \(since)") }
    }

    func run() async throws {
        let nowMillis = SystemClock().nowMillis()
        let sinceMillis = try AuditTime.millis(since, now: nowMillis)
        let untilMillis = try until.map { try AuditTime.millis($0, now: nowMillis) } ?? .max
        let store = try await options.open()
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil), let file = FileHandle(forWritingAtPath: output) else {
                FileHandle.standardError.write(Data("cannot write \(output)\n".utf8))
                throw ExitCode(1)
            }
            handle = file
        } else {
            handle = FileHandle.standardOutput
        }
        let count = try await store.exportAudit(sinceMillis: sinceMillis, untilMillis: untilMillis) { page in
            var bytes: [UInt8] = []
            for record in page { bytes += AuditJSONL.line(record) }
            try handle.write(contentsOf: bytes)
        }
        if output != nil { try handle.close() }
        if let archived = try await store.auditArchives().last,
           let oldest = try await store.auditEvents(after: 0, limit: 1).first, sinceMillis < oldest.event.timeMillis {
            FileHandle.standardError.write(Data("""
                note: seq 1…\(archived.lastSeq) are archived (last file \(archived.file)); this export covers the live table only, \
                from seq \(oldest.seq)\n
                """.utf8))
        }
        Console.error("\(count) events exported")
    }
}

struct AuditArchive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Apply audit retention now: archive events older than audit.retention_days, then delete them from the live table.")

    @Option(name: .shortAndLong, help: "The gateway's configuration file (its audit section and its store).")
    var config: String

    func run() async throws {
        let configuration = try ConfigurationFile.load(config)
        guard let retention = configuration.auditRetention else {
            FileHandle.standardError.write(Data("\(config): audit.retention_days is not set: every event is kept, nothing to archive\n".utf8))
            throw ExitCode(2)
        }
        let store = try await ConfigurationFile.openStore(configuration)
        let directory = URL(fileURLWithPath: retention.archiveDirectory, isDirectory: true)
        let archived: [AuditArchiveRecord]
        do {
            // Each range is printed as it is committed, so those archived before a failure are shown too.
            archived = try await store.archiveAuditLog(retention) { record in
                print("archived seq \(record.firstSeq)…\(record.lastSeq) (\(record.eventCount) events) to "
                    + "\(directory.appendingPathComponent(record.file).path), sha256 \(record.fileSHA256)")
            }
        } catch {
            FileHandle.standardError.write(Data("audit archive failed, the range being archived was not deleted: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if archived.isEmpty {
            print("nothing to archive: no event older than \(retention.retentionDays) day(s) (the newest event always stays in the live table)")
        }
    }
}

/// `--since` / `--until` values: an ISO 8601 date or date-time, or a duration back from now.
enum AuditTime {
    static func millis(_ text: String, now nowMillis: Int64 = SystemClock().nowMillis()) throws(TollgateError) -> Int64 {
        let value = text.trimmingCharacters(in: .whitespaces)
        if let unit = value.last, let factor = durationUnits[unit], let amount = Int64(value.dropLast()), amount >= 0 {
            let (product, overflow) = amount.multipliedReportingOverflow(by: factor)
            guard !overflow else { throw TollgateError(.invalidArgument, "\(text) is too long a duration") }
            return nowMillis - product
        }
        let styles: [Date.ISO8601FormatStyle] = [
            .init(includingFractionalSeconds: true), .init(), .init().year().month().day(),
        ]
        for style in styles {
            if let date = try? style.parse(value) { return Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
        }
        throw TollgateError(.invalidArgument, "\(text) is neither an ISO 8601 date/time (2025-06-01, 2025-06-01T12:00:00Z) nor a duration (90m, 24h, 7d)")
    }

    static let durationUnits: [Character: Int64] = ["s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000]
}
