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
    /// (the package units a partial refund takes back). All of `whole` is all of `units`. Computed exactly in
    /// integers (the product may pass uint256), never in floating point.
    public static func proportion(of units: Int, part: TokenAmount, whole: TokenAmount) -> Int {
        if part >= whole { return units }
        guard units > 0, !whole.isZero else { return 0 }
        let product = LongDecimal.product(LongDecimal.digits(part.atomic), LongDecimal.digits(String(units)))
        let quotient = LongDecimal.quotient(product, LongDecimal.digits(whole.atomic))
        return Int(String(quotient.map { Character(Unicode.Scalar(UInt8(48 + $0))) })) ?? 0
    }

    public static let zero = TokenAmount(atomic: "0")!
}

/// Schoolbook arithmetic on decimal digits (most significant first, no leading zeros but for zero itself),
/// for the few places where an intermediate value may pass uint256.
enum LongDecimal {
    static func digits(_ text: String) -> [Int] { trimmed(text.utf8.map { Int($0) - 48 }) }

    static func product(_ a: [Int], _ b: [Int]) -> [Int] {
        var result = [Int](repeating: 0, count: a.count + b.count)
        for i in a.indices.reversed() {
            for j in b.indices.reversed() { result[i + j + 1] += a[i] * b[j] }
        }
        for k in result.indices.dropFirst().reversed() {
            result[k - 1] += result[k] / 10
            result[k] %= 10
        }
        return trimmed(result)
    }

    /// `dividend / divisor` rounded down; `divisor` is not zero.
    static func quotient(_ dividend: [Int], _ divisor: [Int]) -> [Int] {
        var remainder = [0]
        var quotient: [Int] = []
        for digit in dividend {
            remainder = trimmed(remainder + [digit])
            var count = 0
            while compare(remainder, divisor) >= 0 {
                remainder = difference(remainder, divisor)
                count += 1
            }
            quotient.append(count)
        }
        return trimmed(quotient)
    }

    static func compare(_ a: [Int], _ b: [Int]) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return 0
    }

    /// `a - b` for `a >= b`.
    static func difference(_ a: [Int], _ b: [Int]) -> [Int] {
        var result = a
        var borrow = 0
        for k in 0..<a.count {
            let i = a.count - 1 - k, j = b.count - 1 - k
            var digit = result[i] - (j >= 0 ? b[j] : 0) - borrow
            borrow = digit < 0 ? 1 : 0
            if digit < 0 { digit += 10 }
            result[i] = digit
        }
        return trimmed(result)
    }

    static func trimmed(_ digits: [Int]) -> [Int] {
        let significant = Array(digits.drop { $0 == 0 })
        return significant.isEmpty ? [0] : significant
    }
}
