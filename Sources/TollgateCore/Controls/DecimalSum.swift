/// Addition of non-negative decimal strings of any length. Ledger totals can in principle pass
/// uint256 (where `TokenAmount.adding` stops), and amounts are never converted to floating point.
public enum DecimalSum {
    /// `lhs + rhs`, or nil when either is not a string of decimal digits.
    public static func add(_ lhs: String, _ rhs: String) -> String? {
        let a = Array(lhs.utf8.reversed()), b = Array(rhs.utf8.reversed())
        guard !a.isEmpty, !b.isEmpty, (a + b).allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        var digits: [UInt8] = []
        digits.reserveCapacity(max(a.count, b.count) + 1)
        var carry: UInt8 = 0
        for index in 0..<max(a.count, b.count) {
            let sum = (index < a.count ? a[index] - 48 : 0) + (index < b.count ? b[index] - 48 : 0) + carry
            digits.append(sum % 10 + 48)
            carry = sum / 10
        }
        if carry > 0 { digits.append(carry + 48) }
        while digits.count > 1 && digits.last == 48 { digits.removeLast() }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }
}
