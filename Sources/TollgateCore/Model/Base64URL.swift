import Foundation

/// The base64 codec of the whole project: unpadded base64url (RFC 4648 §5) for tokens that must survive JSON
/// and headers untouched, and a lenient reader for headers clients spell either way.
public enum Base64URL {
    // Byte maps rather than string replacement: this runs on every 402 and every paid request.
    public static func encode(_ bytes: [UInt8]) -> String {
        let standard = Data(bytes).base64EncodedData()
        var out = [UInt8]()
        out.reserveCapacity(standard.count)
        for byte in standard {
            switch byte {
            case UInt8(ascii: "+"): out.append(UInt8(ascii: "-"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "_"))
            case UInt8(ascii: "="): continue
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict unpadded base64url: a `+`, `/` or `=` is refused (a token has one spelling).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decode(text, lenient: false)
    }

    /// Base64 as lenient clients send it: the standard or the URL alphabet, padded or not, with spaces or
    /// tabs anywhere (x402 headers are standard base64; some clients send base64url).
    public static func decodeEitherAlphabet(_ text: some StringProtocol) -> [UInt8]? {
        decode(text, lenient: true)
    }

    private static func decode(_ text: some StringProtocol, lenient: Bool) -> [UInt8]? {
        var standard = [UInt8]()
        standard.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                guard lenient else { return nil }
            case UInt8(ascii: "+"), UInt8(ascii: "/"):
                guard lenient else { return nil }
                standard.append(byte)
            case UInt8(ascii: "="):
                guard lenient else { return nil }
            case UInt8(ascii: "-"): standard.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): standard.append(UInt8(ascii: "/"))
            default: standard.append(byte)
            }
        }
        standard += Array(repeating: UInt8(ascii: "="), count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: Data(standard)).map(Array.init)
    }
}
