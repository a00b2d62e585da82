/// The hex codec of the whole project: lowercase hex, bare (keys, digests, MACs) or with Ethereum's `0x`.
public enum HexString {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        append(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends lowercase hex of `bytes` to `buffer`.
    public static func append(_ bytes: some Sequence<UInt8>, to buffer: inout [UInt8]) {
        for byte in bytes {
            buffer.append(digits[Int(byte >> 4)])
            buffer.append(digits[Int(byte & 0x0f)])
        }
    }

    /// Lowercase hex preceded by `0x`, as Ethereum JSON spells byte strings.
    public static func prefixed(_ bytes: some Sequence<UInt8>) -> String {
        "0x" + encode(bytes)
    }

    /// The bytes of hex with an optional `0x`/`0X` prefix and digits in any case; nil for an odd number of
    /// digits or any character that is not a hex digit.
    public static func decodeAllowingPrefix(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(utf8: $0, allowingPrefix: true) }
    }

    public static func decodeAllowingPrefix(_ text: Substring) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(utf8: $0, allowingPrefix: true) }
    }

    /// The bytes of bare hex, digits in any case; nil for an odd number of digits or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(utf8: $0, allowingPrefix: false) }
    }

    public static func decode(_ text: Substring) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(utf8: $0, allowingPrefix: false) }
    }

    /// Any other spelling of a string: copied into a `String` first.
    public static func decodeAllowingPrefix(_ text: some StringProtocol) -> [UInt8]? { decodeAllowingPrefix(String(text)) }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? { decode(String(text)) }

    /// Called from other modules for every signature, nonce and address of a proof: concrete (a generic
    /// `StringProtocol` version ran unspecialized there, through witness tables, one character at a time).
    static func decode(utf8: UnsafeBufferPointer<UInt8>, allowingPrefix: Bool) -> [UInt8]? {
        var start = 0
        if allowingPrefix, utf8.count >= 2, utf8[0] == UInt8(ascii: "0"), utf8[1] | 0x20 == UInt8(ascii: "x") { start = 2 }
        let digits = utf8.count - start
        guard digits % 2 == 0 else { return nil }
        var valid = true
        let bytes = [UInt8](unsafeUninitializedCapacity: digits / 2) { out, count in
            var index = start, written = 0
            while index < utf8.count {
                guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else {
                    valid = false
                    break
                }
                out[written] = high << 4 | low
                written += 1
                index += 2
            }
            count = written
        }
        return valid ? bytes : nil
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}
