extension TokenAmount {
    /// The sum, or nil past uint256's 78 digits.
    public func adding(_ other: TokenAmount) -> TokenAmount? {
        DecimalSum.add(atomic, other.atomic).flatMap { TokenAmount(atomic: $0) }
    }

    /// The difference, or nil when `other` is larger.
    public func subtracting(_ other: TokenAmount) -> TokenAmount? {
        guard other <= self else { return nil }
        let a = Array(atomic.utf8.reversed()), b = Array(other.atomic.utf8.reversed())
        var digits: [UInt8] = []
        var borrow = 0
        for index in 0..<a.count {
            var difference = Int(a[index]) - 48 - (index < b.count ? Int(b[index]) - 48 : 0) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 10 }
            digits.append(UInt8(difference) + 48)
        }
        return TokenAmount(atomic: String(decoding: digits.reversed(), as: UTF8.self))
    }
}

extension TokenAmount {
    /// The amount times `factor` (a unit price times a quantity), or nil past uint256's 78 digits.
    public func multiplied(by factor: Int) -> TokenAmount? {
        guard factor >= 0 else { return nil }
        var digits: [UInt8] = []
        var carry = 0
        for digit in atomic.utf8.reversed() {
            let (product, overflow) = (Int(digit) - 48).multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            let total = product + carry
            digits.append(UInt8(total % 10) + 48)
            carry = total / 10
        }
        while carry > 0 {
            digits.append(UInt8(carry % 10) + 48)
            carry /= 10
        }
        while digits.count > 1, digits.last == 48 { digits.removeLast() }
        return TokenAmount(atomic: String(decoding: digits.reversed(), as: UTF8.self))
    }

    /// `units × part / whole`, rounded down: the share of `units` that `part` of `whole` stands for
    /// (the package units a partial refund takes back). All of `whole` is all of `units`.
    public static func proportion(of units: Int, part: TokenAmount, whole: TokenAmount) -> Int {
        if part >= whole { return units }
        guard let part = Double(part.atomic), let whole = Double(whole.atomic), whole > 0 else { return 0 }
        return Int((Double(units) * part / whole).rounded(.down))
    }
}
