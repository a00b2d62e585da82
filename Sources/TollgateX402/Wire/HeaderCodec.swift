import TollgateCore
import Foundation

/// x402 headers carry standard base64 (RFC 4648 §4, padded) of compact UTF-8 JSON.
public enum HeaderCodec {
    /// Proof headers above this size are refused before any decoding.
    public static let maxHeaderBytes = 16 * 1024

    public static func encode(_ value: some Encodable) -> String {
        base64(json(value))
    }

    /// The header value of JSON bytes already written.
    public static func base64(_ json: [UInt8]) -> String {
        Base64URL.encodeStandard(json)
    }

    public static func json(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    /// Decodes base64 (standard, or base64url from lenient clients) into bytes; nil when it is not base64.
    public static func base64Bytes(_ header: String) -> [UInt8]? {
        Base64URL.decodeEitherAlphabet(header)
    }

    /// The JSON a header carries, read strictly (`StrictJSON`: a repeated key, which two readers could read two ways,
    /// refuses it); nil when it is not base64 of strict JSON.
    public static func tree(header: String) -> JSONValue? {
        base64Bytes(header).flatMap(StrictJSON.tree)
    }

    /// The message a header carries, read strictly: `tree(header:)`, then the message's own reader (`init?(json:)`).
    public static func read<T: StrictlyReadable>(_ type: T.Type, header: String) -> T? {
        tree(header: header).flatMap(T.init(json:))
    }

    public static func decode<T: Decodable>(_ type: T.Type, header: String) -> T? {
        guard let bytes = base64Bytes(header) else { return nil }
        return try? JSONDecoder().decode(type, from: Data(bytes))
    }
}

/// An x402 message read by hand from a strict parse (`StrictJSON`), as the gateway reads a paid request's.
public protocol StrictlyReadable {
    /// Nil when `json` is not this message.
    init?(json: JSONValue)
}

extension X402.PaymentPayload: StrictlyReadable {}
extension X402.PaymentRequired: StrictlyReadable {}
extension X402.VerifyResponse: StrictlyReadable {}
extension X402.SettleResponse: StrictlyReadable {}
