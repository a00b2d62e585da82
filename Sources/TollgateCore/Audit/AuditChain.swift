import Crypto
import Foundation

/// The hash chain over audit events: each event's hash covers the previous hash and the event's
/// canonical JSON, so an edited, deleted or reordered event breaks every later link.
public enum AuditChain {
    public static let genesis = String(repeating: "0", count: 64)

    public static func hash(previous: String, event: AuditEvent) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(previous.utf8))
        hasher.update(data: canonicalJSON(event))
        return HexString.encode(hasher.finalize())
    }

    /// The event as JSON with sorted keys and no optional field that is absent: the bytes the hash covers.
    public static func canonicalJSON(_ event: AuditEvent) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("clientId", event.clientId)
        writer.field("correlationId", event.correlationId)
        writer.field("details", event.details)
        writer.field("outcome", event.outcome.rawValue)
        writer.field("reason", event.reason)
        writer.field("resource", event.resource)
        writer.field("stage", event.stage.rawValue)
        writer.field("timeMillis", event.timeMillis)
        writer.endObject()
        return writer.bytes
    }
}
