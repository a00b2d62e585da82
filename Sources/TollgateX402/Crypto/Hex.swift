import TollgateCore

/// Hexadecimal encoding of byte strings, as used throughout Ethereum JSON.
public enum Hex {
    /// Lowercase hex of `bytes`, preceded by "0x" when `prefix` is true.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes, prefix: Bool = true) -> String where Bytes.Element == UInt8 {
        (prefix ? "0x" : "") + HexString.encode(bytes)
    }

    /// The bytes of a hex string with an optional "0x"/"0X" prefix and digits in any case;
    /// nil for an odd number of digits or any character that is not a hex digit.
    public static func decode(_ string: some StringProtocol) -> [UInt8]? {
        let utf8 = string.utf8
        if utf8.count >= 2, utf8.first == UInt8(ascii: "0"), let x = utf8.dropFirst().first, x == UInt8(ascii: "x") || x == UInt8(ascii: "X") {
            return HexString.decode(string.dropFirst(2))
        }
        return HexString.decode(string)
    }
}
