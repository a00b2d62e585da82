/// A non-negative amount of a token in its smallest unit, kept as a canonical decimal string
/// (uint256 range, never a floating-point number).
public struct TokenAmount: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// Canonical digits: no sign, no leading zeros ("0" for zero).
    public let atomic: String

    /// Parses atomic units ("10000"). Returns nil for anything but up to 78 decimal digits.
    public init?(atomic: some StringProtocol) {
        var text = String(atomic)
        guard let canonical = text.withUTF8(Self.canonical) else { return nil }
        self.atomic = canonical
    }

    /// The canonical digits of `utf8`, nil unless it is 1 to 78 ASCII digits at most 2^256 - 1. Digits only, so bytes are
    /// characters: counted and trimmed as bytes (`count` and `drop(while:)` on a `String` walk grapheme clusters, and
    /// this runs several times per paid request).
    private static func canonical(_ utf8: UnsafeBufferPointer<UInt8>) -> String? {
        guard !utf8.isEmpty, utf8.count <= 78, utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let digits = UnsafeBufferPointer(rebasing: utf8[(utf8.firstIndex { $0 != 48 } ?? utf8.count)...])
        if digits.isEmpty { return "0" }
        let text = String(decoding: digits, as: UTF8.self)
        guard digits.count < 78 || text <= uint256Max else { return nil }
        return text
    }

    /// 2^256 - 1, the largest amount an EVM token can express.
    static let uint256Max = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

    /// Converts a human decimal ("0.01") into atomic units for a token with `decimals` decimals.
    /// Returns nil when the text is not a plain decimal or has more fractional digits than the token.
    public init?(decimal: some StringProtocol, decimals: Int) {
        let parts = decimal.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty || parts.count == 2 else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard (parts.count == 1 || !fraction.isEmpty), fraction.count <= decimals,
              (String(whole) + String(fraction)).utf8.allSatisfy({ $0 >= 48 && $0 <= 57 })
        else { return nil }
        let padded = String(whole) + String(fraction) + String(repeating: "0", count: decimals - fraction.count)
        self.init(atomic: padded.isEmpty ? "0" : padded)
    }

    /// The amount as a human decimal for a token with `decimals` decimals ("10000", 6 → "0.01").
    public func decimalString(decimals: Int) -> String {
        guard decimals > 0 else { return atomic }
        let padded = String(repeating: "0", count: max(0, decimals + 1 - atomic.utf8.count)) + atomic
        let split = padded.index(padded.endIndex, offsetBy: -decimals)
        var fraction = padded[split...]
        while fraction.last == "0" { fraction = fraction.dropLast() }
        return fraction.isEmpty ? String(padded[..<split]) : "\(padded[..<split]).\(fraction)"
    }

    public var isZero: Bool { atomic == "0" }
    public var description: String { atomic }

    public static func < (lhs: TokenAmount, rhs: TokenAmount) -> Bool {
        lhs.atomic.utf8.count != rhs.atomic.utf8.count ? lhs.atomic.utf8.count < rhs.atomic.utf8.count : lhs.atomic < rhs.atomic
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let amount = TokenAmount(atomic: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an atomic amount: \(text)"))
        }
        self = amount
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(atomic)
    }
}
