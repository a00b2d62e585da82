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
        writer.field("time", RFC3339.format(millis: event.timeMillis))
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
    public static func decode(_ line: some Collection<UInt8>) throws(TollgateError) -> RecordedAuditEvent {
        let decoded: Line
        do {
            decoded = try JSONDecoder().decode(Line.self, from: Data(line))
        } catch {
            throw TollgateError(.invalidLine, "not an audit event: \(error)")
        }
        guard let outcome = AuditEvent.Outcome(rawValue: decoded.outcome) else {
            throw TollgateError(.invalidLine, "unknown outcome \(decoded.outcome)")
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
        public mutating func update(_ bytes: some DataProtocol) { hasher.update(data: bytes) }
        public func finalize() -> String { HexString.encode(hasher.finalize()) }
    }
}
