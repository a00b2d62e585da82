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
