import Foundation

/// x402 headers carry standard base64 (RFC 4648 §4, padded) of compact UTF-8 JSON.
public enum HeaderCodec {
    /// Proof headers above this size are refused before any decoding.
    public static let maxHeaderBytes = 16 * 1024

    public static func encode(_ value: some Encodable) -> String {
        Data(json(value)).base64EncodedString()
    }

    public static func json(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    /// Decodes base64 (standard, or base64url from lenient clients) into bytes; nil when it is not base64.
    public static func base64Bytes(_ header: String) -> [UInt8]? {
        var text = [UInt8]()
        text.reserveCapacity(header.utf8.count + 3)
        for byte in header.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"): continue
            case UInt8(ascii: "-"): text.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): text.append(UInt8(ascii: "/"))
            default: text.append(byte)
            }
        }
        text += Array(repeating: UInt8(ascii: "="), count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: Data(text)).map(Array.init)
    }

    public static func decode<T: Decodable>(_ type: T.Type, header: String) -> T? {
        guard let bytes = base64Bytes(header) else { return nil }
        return try? JSONDecoder().decode(type, from: Data(bytes))
    }
}
