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

    public static func canonicalJSON(_ event: AuditEvent) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(event)) ?? Data())
    }
}
