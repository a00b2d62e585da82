import Crypto
import Foundation

/// The audit log as JSON Lines: one recorded event per line, the format of `tollgate audit export`
/// and of archive files. A line carries everything needed to recompute the event's hash without
/// Tollgate: `hash = SHA256(prevHash as UTF-8 ‖ canonicalJSON)`, where the canonical JSON is the object
/// of `clientId, correlationId, details, outcome, reason, resource, stage, timeMillis` with sorted keys,
/// no whitespace, and absent optional fields left out (as they are left out of the line).
public enum AuditJSONL {
    /// One line (with its trailing newline).
    public static func line(_ record: RecordedAuditEvent) -> [UInt8] {
        let event = record.event
        var writer = JSONWriter(capacity: 512)
        writer.beginObject()
        writer.field("seq", record.seq)
        writer.field("time", ISO8601.format(millis: event.timeMillis))
        writer.field("timeMillis", event.timeMillis)
        writer.field("correlationId", event.correlationId)
        writer.field("stage", event.stage.rawValue)
        writer.field("outcome", event.outcome.rawValue)
        writer.field("reason", event.reason)
        writer.field("clientId", event.clientId)
        writer.field("resource", event.resource)
        writer.field("details", event.details)
        writer.field("prevHash", record.previousHash)
        writer.field("hash", record.hash)
        writer.endObject()
        return writer.bytes + [UInt8(ascii: "\n")]
    }

    /// Parses one line (without its newline).
    public static func decode(_ line: some Collection<UInt8>) throws(AuditLogError) -> RecordedAuditEvent {
        let decoded: Line
        do {
            decoded = try JSONDecoder().decode(Line.self, from: Data(line))
        } catch {
            throw AuditLogError(.invalidLine, "not an audit event: \(error)")
        }
        guard let outcome = AuditEvent.Outcome(rawValue: decoded.outcome) else {
            throw AuditLogError(.invalidLine, "unknown outcome \(decoded.outcome)")
        }
        let event = AuditEvent(correlationId: decoded.correlationId, timeMillis: decoded.timeMillis, stage: .init(decoded.stage),
                               outcome: outcome, reason: decoded.reason, clientId: decoded.clientId, resource: decoded.resource,
                               details: decoded.details)
        return RecordedAuditEvent(seq: decoded.seq, event: event, previousHash: decoded.prevHash, hash: decoded.hash)
    }

    private struct Line: Decodable {
        var seq: Int64
        var timeMillis: Int64
        var correlationId: String
        var stage: String
        var outcome: String
        var reason: String?
        var clientId: String?
        var resource: String?
        var details: [String: String]
        var prevHash: String
        var hash: String
    }

    /// SHA-256 over a file as it is written or read, in pieces; hex when finished.
    public struct Digest: Sendable {
        private var hasher = SHA256()
        public init() {}
        public mutating func update(_ bytes: some Sequence<UInt8>) { hasher.update(data: Array(bytes)) }
        public func finalize() -> String { HexString.encode(hasher.finalize()) }
    }
}

/// A failure reading, writing or archiving the audit log; `code` says which kind.
public struct AuditLogError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier of the kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A JSONL line that is not an audit event.
        public static let invalidLine = Code("invalid_line")
        /// The live chain does not hold where archiving would cut it: nothing was archived.
        public static let chainBroken = Code("chain_broken")
        /// The archive directory or file could not be written or read.
        public static let fileSystem = Code("file_system")
        /// The log changed between reading and deleting (another archiver ran): nothing was deleted.
        public static let concurrentChange = Code("concurrent_change")
        /// A command-line value (a date, a duration, a format) that cannot be used.
        public static let invalidArgument = Code("invalid_argument")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
