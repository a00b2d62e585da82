import Crypto
import Foundation

/// The hash chain over audit events: each event's hash covers the previous hash and the event's
/// canonical JSON, so an edited, deleted or reordered event breaks every later link.
public enum AuditChain {
    public static let genesis = String(repeating: "0", count: 64)

    /// The prefix of a keyed hash: `v2:<key id>:<hex HMAC-SHA256>`.
    public static let keyedPrefix = "v2:"

    /// An event as every store appends it: its details, written once for its hash and for the stored column alike, and
    /// its canonical JSON; what does not depend on its place in the chain. The paid path's writes make it before the
    /// store's write, on the caller's thread, so the single writer that assigns places only hashes.
    public struct Prepared: Sendable {
        public let event: AuditEvent
        /// The details as stored beside the event (sorted keys).
        public let detailsJSON: String
        let canonical: [UInt8]

        public init(_ event: AuditEvent) {
            self.event = event
            let details = AuditChain.detailsJSON(event.details)
            canonical = AuditChain.canonicalJSON(event, details: details)
            detailsJSON = String(decoding: details, as: UTF8.self)
        }

        /// The event's hash after `previous` at `seq`: keyed with the ring's current key, or unkeyed (v1) without keys.
        public func hash(previous: String, seq: Int64, keys: KeyRing?) -> String {
            keys.map { keyedHash(previous: previous, seq: seq, canonical: canonical, key: $0.current) }
                ?? AuditChain.hash(previous: previous, canonical: canonical)
        }
    }

    /// The keyed link: HMAC-SHA256 with an audit key over the event's seq, the previous hash and the event. Whoever
    /// can write the database but does not hold the key cannot forge a link, and a row moved to another seq no
    /// longer matches its hash.
    public static func keyedHash(previous: String, seq: Int64, event: AuditEvent, key: SecretKey) -> String {
        keyedHash(previous: previous, seq: seq, canonical: canonicalJSON(event), key: key)
    }

    private static func keyedHash(previous: String, seq: Int64, canonical: [UInt8], key: SecretKey) -> String {
        // Built in one buffer each (every event the gateway records is linked here, on the store's single writer).
        var message: [UInt8] = []
        message.reserveCapacity(keyedDomain.count + 21 + previous.utf8.count + 1 + canonical.count)
        message.append(contentsOf: keyedDomain)
        message.append(contentsOf: String(seq).utf8)
        message.append(UInt8(ascii: "\n"))
        message.append(contentsOf: previous.utf8)
        message.append(UInt8(ascii: "\n"))
        message.append(contentsOf: canonical)
        let mac = key.mac(message)
        var hash: [UInt8] = []
        hash.reserveCapacity(keyedPrefix.utf8.count + key.id.utf8.count + 1 + 2 * mac.count)
        hash.append(contentsOf: keyedPrefix.utf8)
        hash.append(contentsOf: key.id.utf8)
        hash.append(UInt8(ascii: ":"))
        HexString.append(mac, to: &hash)
        return String(decoding: hash, as: UTF8.self)
    }

    private static let keyedDomain = Array("tollgate-audit-v2\n".utf8)

    /// The hash a stored row should have, in the version its stored hash names; nil for a keyed row whose key is
    /// not in `keys`.
    public static func expectedHash(of record: RecordedAuditEvent, keys: KeyRing?) -> String? {
        guard record.hash.hasPrefix(keyedPrefix) else { return hash(previous: record.previousHash, event: record.event) }
        let keyId = record.hash.dropFirst(keyedPrefix.count).prefix { $0 != ":" }
        guard let key = keys?.key(id: keyId) else { return nil }
        return keyedHash(previous: record.previousHash, seq: record.seq, event: record.event, key: key)
    }

    /// The unkeyed link of logs written before audit keys (v1): SHA-256 over the previous hash and the event.
    public static func hash(previous: String, event: AuditEvent) -> String {
        hash(previous: previous, canonical: canonicalJSON(event))
    }

    private static func hash(previous: String, canonical: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(previous.utf8))
        hasher.update(data: canonical)
        return HexString.encode(hasher.finalize())
    }

    /// The event as JSON with sorted keys and no optional field that is absent: the bytes the hash covers.
    public static func canonicalJSON(_ event: AuditEvent) -> [UInt8] {
        canonicalJSON(event, details: detailsJSON(event.details))
    }

    /// The details as one JSON object with sorted keys (`String` order, as the chain has always hashed them).
    static func detailsJSON(_ details: [String: String]) -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + details.count * 48)
        writer.object(details)
        return writer.bytes
    }

    private static func canonicalJSON(_ event: AuditEvent, details: [UInt8]) -> [UInt8] {
        var writer = JSONWriter(capacity: 192 + details.count)
        writer.beginObject()
        writer.field("clientId", event.clientId)
        writer.field("correlationId", event.correlationId)
        writer.key("details")
        writer.raw(details)
        writer.field("outcome", event.outcome.rawValue)
        writer.field("reason", event.reason)
        writer.field("resource", event.resource)
        writer.field("stage", event.stage.rawValue)
        writer.field("timeMillis", event.timeMillis)
        writer.endObject()
        return writer.bytes
    }
}
