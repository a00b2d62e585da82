import Crypto
import Foundation
import Testing
@testable import TollgateCore

@Suite struct JSONWriterTests {
    @Test func canonicalAuditJSONRoundTrips() throws {
        let event = AuditEvent(correlationId: "tg_1", timeMillis: 1_795_000_000_123, stage: .verify, outcome: .denied,
                               reason: "x\"y\\z", clientId: nil, resource: "datasets",
                               details: ["b": "line\nbreak\ttab\u{1}", "a": "ünïcødé ✓ /slash", "c": ""])
        let bytes = AuditChain.canonicalJSON(event)
        let decoded = try JSONDecoder().decode(AuditEvent.self, from: Data(bytes))
        #expect(decoded == event)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"correlationId":"tg_1","details":{"a":"#))
        #expect(!text.contains("clientId"))
    }

    @Test func hashDependsOnEveryField() {
        let event = AuditEvent(correlationId: "tg_1", timeMillis: 1, stage: .offer, outcome: .issued, details: ["k": "v"])
        var other = event
        other.details["k"] = "w"
        #expect(AuditChain.hash(previous: AuditChain.genesis, event: event) != AuditChain.hash(previous: AuditChain.genesis, event: other))
        #expect(AuditChain.hash(previous: AuditChain.genesis, event: event) == AuditChain.hash(previous: AuditChain.genesis, event: event))
    }
}

/// One JSON writer: the audit chain's canonical events and `JSONValue.canonicalBytes` (evidence bundles) are the same
/// bytes, and the audit bytes are the ones stored chains were hashed with.
@Suite struct CanonicalJSONTests {
    /// Every control character, quote, backslash, slash, non-ASCII (two-, three- and four-byte UTF-8), DEL and U+2028.
    static let awkward = String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }) + "\"\\/é✓日本𝄞\u{7F}\u{2028}"
    static let escapedControls = #"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\t\n\u000b\u000c\r\u000e\u000f"#
        + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"#
    static let escapedAwkward = "\"" + escapedControls + #"\"\\/é✓日本𝄞"# + "\u{7F}\u{2028}\""

    static let event = AuditEvent(correlationId: "tg_1", timeMillis: 1, stage: .verify, outcome: .denied, reason: awkward,
                                  details: ["a": awkward, "b\u{8}": "\u{C}"])

    @Test func auditBytesAreUnchanged() {
        let expected = #"{"correlationId":"tg_1","details":{"a":"# + Self.escapedAwkward + #","b\u0008":"\u000c"},"outcome":"denied","reason":"#
            + Self.escapedAwkward + #","stage":"verify","timeMillis":1}"#
        #expect(String(decoding: AuditChain.canonicalJSON(Self.event), as: UTF8.self) == expected)
        // The unkeyed link as computed before the writers were unified (and independently, by hand).
        #expect(AuditChain.hash(previous: AuditChain.genesis, event: Self.event)
            == "db4747b1650e7690912266e018de3d5e05ddfe29851153eaea0e210d4b1ccbde")
    }

    /// What every store appends (`AuditChain.Prepared`): the same hash as the chain's own functions and its verifier
    /// compute, keyed or not, and the details as the stored column has always held them.
    @Test func aLinkIsTheChainsHashAndTheStoredDetails() throws {
        let link = AuditChain.Prepared(Self.event)
        let linkHash = link.hash(previous: AuditChain.genesis, seq: 1, keys: nil)
        #expect(linkHash == "db4747b1650e7690912266e018de3d5e05ddfe29851153eaea0e210d4b1ccbde")
        #expect(link.detailsJSON == #"{"a":"# + Self.escapedAwkward + #","b\u0008":"\u000c"}"#)
        #expect(AuditEvent.details(fromJSON: link.detailsJSON) == Self.event.details)

        let key = try #require(SecretKey(id: "k1", secret: Array(repeating: 7, count: 32)))
        let keys = try #require(KeyRing([key]))
        let keyed = AuditChain.Prepared(Self.event)
        let keyedHash = keyed.hash(previous: linkHash, seq: 2, keys: keys)
        #expect(keyedHash.hasPrefix("v2:k1:"))
        #expect(keyedHash == AuditChain.keyedHash(previous: linkHash, seq: 2, event: Self.event, key: key))
        // The keyed link's form, computed independently (stored hashes never change): HMAC-SHA256 over the domain, the
        // seq, the previous hash and the canonical event.
        let message = Array("tollgate-audit-v2\n2\n\(linkHash)\n".utf8) + AuditChain.canonicalJSON(Self.event)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(repeating: UInt8(7), count: 32)))
        #expect(keyedHash == "v2:k1:" + Array(mac).map { String(format: "%02x", $0) }.joined())
        #expect(keyed.detailsJSON == link.detailsJSON)
        let recorded = RecordedAuditEvent(seq: 2, event: Self.event, previousHash: linkHash, hash: keyedHash)
        #expect(AuditChain.expectedHash(of: recorded, keys: keys) == keyedHash)
        // Another seq, another link: a row moved in the log no longer matches.
        #expect(keyed.hash(previous: linkHash, seq: 3, keys: keys) != keyedHash)
    }

    @Test func auditAndJSONValueHashAlike() {
        let event = Self.event
        let value = JSONValue.object([
            "correlationId": .string(event.correlationId), "details": .object(event.details.mapValues { JSONValue.string($0) }),
            "outcome": .string(event.outcome.rawValue), "reason": .string(event.reason ?? ""), "stage": .string(event.stage.rawValue),
            "timeMillis": .integer(event.timeMillis),
        ])
        #expect(value.canonicalBytes == AuditChain.canonicalJSON(event))
        // The evidence path (parse, canonicalise, SHA-256) over the audit bytes gives the audit chain's own SHA-256 of them.
        #expect(EvidenceBundle.digests(ofDocument: AuditChain.canonicalJSON(event))?.computed == AuditChain.hash(previous: "", event: event))
        for scalar in 0..<0x20 {
            let text = "x" + String(Character(Unicode.Scalar(UInt8(scalar)))) + "y"
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("k", text)
            writer.endObject()
            #expect(JSONValue.object(["k": .string(text)]).canonicalBytes == writer.bytes, "U+\(String(scalar, radix: 16))")
        }
    }

    @Test func canonicalValuesRoundTrip() throws {
        let value = JSONValue.object(["z": .array([.null, .bool(true), .integer(-3), .string(Self.awkward), .object([:]), .array([])]),
                                      "é": .bool(false), "a": .object(["y": .integer(1), "x": .string("/")])])
        let text = String(decoding: value.canonicalBytes, as: UTF8.self)
        #expect(text == #"{"a":{"x":"/","y":1},"z":[null,true,-3,"# + Self.escapedAwkward + #",{},[]],"é":false}"#)
        #expect(JSONValue.parse(value.canonicalBytes) == value)
    }
}

/// Strings are scanned eight bytes at a time: every byte that must be escaped is found wherever it falls in a word.
@Suite struct JSONStringScanTests {
    @Test func everyEscapedByteIsFoundAtEveryPositionOfAWord() {
        func needs(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5C }
        for filler in [UInt8(ascii: "a"), 0x7F, 0x80, 0xFF, 0x21, 0x5B, 0x5D] {
            for position in 0..<8 {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[position] = UInt8(value)
                    let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                    #expect(JSONWriter.anyNeedsEscape(word) == needs(UInt8(value)), "byte \(value) at \(position) among \(filler)")
                }
            }
        }
    }

    /// The escaping a byte at a time, as the writer did before it scanned words.
    static func reference(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    @Test func stringsOfEveryLengthAreEscapedWhereverTheSpecialBytesAre() throws {
        for length in 0..<40 {
            for position in 0..<max(length, 1) {
                for special in ["\"", "\\", "\n", "\u{1}", "é", "\u{7F}"] {
                    var characters = Array(repeating: "x", count: length)
                    if length > 0 { characters[position] = special }
                    let text = characters.joined()
                    var writer = JSONWriter()
                    writer.value(.string(text))
                    let decoded = try JSONDecoder().decode(String.self, from: Data(writer.bytes))
                    #expect(decoded == text)
                    #expect(String(decoding: writer.bytes, as: UTF8.self) == Self.reference(text), "\(text.debugDescription)")
                }
            }
        }
    }
}
