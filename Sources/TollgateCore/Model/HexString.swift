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
    public static func decodeAllowingPrefix(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = text.utf8
        if utf8.count >= 2, utf8.first == UInt8(ascii: "0"), let x = utf8.dropFirst().first, x == UInt8(ascii: "x") || x == UInt8(ascii: "X") {
            return decode(text.dropFirst(2))
        }
        return decode(text)
    }

    /// The bytes of bare hex, digits in any case; nil for an odd number of digits or a non-hex character.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
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
