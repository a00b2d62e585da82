/// 32-byte big-endian ABI words for `uint256` values.
public enum UInt256Word {
    /// The ABI word of a non-negative decimal integer: ASCII digits only (leading zeros allowed,
    /// no sign, spaces or decimal point). nil when empty, malformed, or above 2^256 - 1.
    public static func fromDecimal(_ decimal: some StringProtocol) -> [UInt8]? {
        guard !decimal.isEmpty else { return nil }
        // Four 64-bit limbs, least significant first.
        var limbs: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for character in decimal.utf8 {
            guard character >= 0x30, character <= 0x39 else { return nil }
            var carry = UInt64(character - 0x30)
            (carry, limbs.0) = multiplyAdd(limbs.0, carry)
            (carry, limbs.1) = multiplyAdd(limbs.1, carry)
            (carry, limbs.2) = multiplyAdd(limbs.2, carry)
            (carry, limbs.3) = multiplyAdd(limbs.3, carry)
            guard carry == 0 else { return nil }
        }
        return word(limbs.3, limbs.2, limbs.1, limbs.0)
    }

    /// The ABI word of `value`.
    public static func fromUInt64(_ value: UInt64) -> [UInt8] {
        word(0, 0, 0, value)
    }

    /// 10 × limb + carry, split into (high, low); the high part never exceeds 9.
    private static func multiplyAdd(_ limb: UInt64, _ carry: UInt64) -> (UInt64, UInt64) {
        let (high, low) = limb.multipliedFullWidth(by: 10)
        let (sum, overflow) = low.addingReportingOverflow(carry)
        return (high + (overflow ? 1 : 0), sum)
    }

    private static func word(_ limbs: UInt64...) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for limb in limbs {
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: limb >> UInt64(shift)))
            }
        }
        return bytes
    }
}
