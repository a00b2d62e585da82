/// Hexadecimal encoding of byte strings, as used throughout Ethereum JSON.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`, preceded by "0x" when `prefix` is true.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes, prefix: Bool = true) -> String where Bytes.Element == UInt8 {
        var utf8: [UInt8] = prefix ? [0x30, 0x78] : []
        utf8.reserveCapacity(utf8.count + 2 * bytes.underestimatedCount)
        for byte in bytes {
            utf8.append(digits[Int(byte >> 4)])
            utf8.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// The bytes of a hex string with an optional "0x"/"0X" prefix and digits in any case;
    /// nil for an odd number of digits or any character that is not a hex digit.
    public static func decode(_ string: some StringProtocol) -> [UInt8]? {
        var utf8 = string.utf8[...]
        if utf8.count >= 2, utf8.first == 0x30, let x = utf8.dropFirst().first, x == 0x78 || x == 0x58 {
            utf8 = utf8.dropFirst(2)
        }
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var high: UInt8?
        for character in utf8 {
            guard let nibble = nibble(character) else { return nil }
            if let pending = high {
                bytes.append(pending << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case 0x30...0x39: character - 0x30  // 0-9
        case 0x61...0x66: character - 0x61 + 10  // a-f
        case 0x41...0x46: character - 0x41 + 10  // A-F
        default: nil
        }
    }
}
