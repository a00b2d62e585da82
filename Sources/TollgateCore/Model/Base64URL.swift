/// The base64 codec of the whole project: unpadded base64url (RFC 4648 §5) for tokens that must survive JSON
/// and headers untouched, and a lenient reader for headers clients spell either way.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Written straight from the alphabet (this runs several times on every 402 and every paid request).
    public static func encode(_ bytes: [UInt8]) -> String {
        encode(bytes, pairs: pairs, padded: false)
    }

    /// Standard padded base64 (RFC 4648 §4), as x402's headers carry JSON: what `Data.base64EncodedString()` writes,
    /// without going through `Data`.
    public static func encodeStandard(_ bytes: [UInt8]) -> String {
        encode(bytes, pairs: standardPairs, padded: true)
    }

    /// Appends unpadded base64url of `bytes` to `buffer` (an offer token is built in one buffer with its MAC).
    public static func append(_ bytes: [UInt8], to buffer: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        let start = buffer.count
        let count = encodedCount(bytes.count, padded: false)
        buffer.append(contentsOf: repeatElement(0, count: count))
        buffer.withUnsafeMutableBufferPointer { out in
            _ = write(bytes, pairs: pairs, padded: false, to: out.baseAddress! + start)
        }
    }

    private static func encodedCount(_ count: Int, padded: Bool) -> Int {
        padded ? (count + 2) / 3 * 4 : (count * 4 + 2) / 3
    }

    private static func encode(_ bytes: [UInt8], pairs: [UInt16], padded: Bool) -> String {
        guard !bytes.isEmpty else { return "" }
        return String(unsafeUninitializedCapacity: encodedCount(bytes.count, padded: padded)) { out in
            write(bytes, pairs: pairs, padded: padded, to: out.baseAddress!)
        }
    }

    /// Two characters for each 12 bits, per alphabet: three input bytes are then two lookups and two stores.
    private static let pairs = pairTable(alphabet)
    private static let standardPairs = pairTable(standardAlphabet)

    private static func pairTable(_ alphabet: [UInt8]) -> [UInt16] {
        (0..<4096).map { UInt16(alphabet[$0 >> 6]) | UInt16(alphabet[$0 & 63]) << 8 }
    }

    /// Writes the encoding at `out` (room for `encodedCount` bytes) through pointers, twelve bits at a time: a 402's
    /// terms header is 1–2 KiB of base64. Returns the bytes written.
    private static func write(_ bytes: [UInt8], pairs: [UInt16], padded: Bool, to out: UnsafeMutablePointer<UInt8>) -> Int {
        bytes.withUnsafeBufferPointer { input in
            pairs.withUnsafeBufferPointer { pairs in
                guard let source = input.baseAddress else { return 0 }
                let pairs = pairs.baseAddress!
                let raw = UnsafeMutableRawPointer(out)
                var written = 0
                var index = 0
                let count = input.count
                while index + 3 <= count {
                    let chunk = Int(source[index]) << 16 | Int(source[index + 1]) << 8 | Int(source[index + 2])
                    raw.storeBytes(of: pairs[chunk >> 12].littleEndian, toByteOffset: written, as: UInt16.self)
                    raw.storeBytes(of: pairs[chunk & 0xFFF].littleEndian, toByteOffset: written + 2, as: UInt16.self)
                    written += 4
                    index += 3
                }
                let rest = count - index
                if rest > 0 {
                    let chunk = Int(source[index]) << 16 | (rest == 2 ? Int(source[index + 1]) << 8 : 0)
                    raw.storeBytes(of: pairs[chunk >> 12].littleEndian, toByteOffset: written, as: UInt16.self)
                    written += 2
                    if rest == 2 {
                        out[written] = UInt8(truncatingIfNeeded: pairs[chunk & 0xFFF])
                        written += 1
                    }
                    if padded {
                        for _ in rest..<3 {
                            out[written] = UInt8(ascii: "=")
                            written += 1
                        }
                    }
                }
                return written
            }
        }
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

    /// Sextet of each byte: 0–63; `standardOnly` flags `+` and `/` (the standard alphabet, lenient reading only);
    /// `skipped` is padding and blanks (lenient only); `invalid` is anything else.
    private static let sextets: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        table[Int(UInt8(ascii: "+"))] = 62 | standardOnly
        table[Int(UInt8(ascii: "/"))] = 63 | standardOnly
        for byte in [UInt8(ascii: "="), UInt8(ascii: " "), UInt8(ascii: "\t")] { table[Int(byte)] = skipped }
        return table
    }()
    private static let standardOnly: UInt8 = 0x80
    private static let skipped: UInt8 = 0xFE
    private static let invalid: UInt8 = 0xFF

    /// Over the text's contiguous UTF-8 (every native `String`, so every header): the loop below is then compiled for
    /// a buffer, not for any `StringProtocol` through its witness table (that generic loop was 2 % of a paid request).
    private static func decode(_ text: some StringProtocol, lenient: Bool) -> [UInt8]? {
        if let decoded = text.utf8.withContiguousStorageIfAvailable({ decode(utf8: $0, lenient: lenient) }) { return decoded }
        var copy = String(text)
        return copy.withUTF8 { decode(utf8: $0, lenient: lenient) }
    }

    private static func decode(utf8: UnsafeBufferPointer<UInt8>, lenient: Bool) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(utf8.count * 3 / 4 + 2)
        var group: UInt32 = 0
        var count = 0
        let sextets = Self.sextets
        for byte in utf8 {
            var sextet = sextets[Int(byte)]
            if sextet == invalid { return nil }
            if sextet == skipped {
                guard lenient else { return nil }
                continue
            }
            if sextet & standardOnly != 0 {
                guard lenient else { return nil }
                sextet &= ~standardOnly
            }
            group = group << 6 | UInt32(sextet)
            count += 1
            if count == 4 {
                out.append(UInt8(truncatingIfNeeded: group >> 16))
                out.append(UInt8(truncatingIfNeeded: group >> 8))
                out.append(UInt8(truncatingIfNeeded: group))
                group = 0
                count = 0
            }
        }
        switch count {
        case 1: return nil
        case 2: out.append(UInt8(truncatingIfNeeded: group >> 4))
        case 3:
            out.append(UInt8(truncatingIfNeeded: group >> 10))
            out.append(UInt8(truncatingIfNeeded: group >> 2))
        default: break
        }
        return out
    }
}
