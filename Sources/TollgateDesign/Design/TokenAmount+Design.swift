import TollgateCore

extension TokenAmount {
    /// This amount divided by `divisor` (at least 1): the quotient rounded down and the remainder, by exact
    /// long division on the decimal digits.
    func divided(by divisor: Int) -> (quotient: TokenAmount, remainder: Int) {
        var quotient = ""
        var remainder = 0
        for digit in atomic.utf8 {
            remainder = remainder * 10 + Int(digit - 48)
            quotient.append(Character(String(remainder / divisor)))
            remainder %= divisor
        }
        return (TokenAmount(atomic: quotient) ?? self, remainder)
    }

    /// This amount divided by `divisor`, rounded up.
    func dividedRoundingUp(by divisor: Int) -> TokenAmount {
        guard divisor > 1 else { return self }
        let (floor, remainder) = divided(by: divisor)
        return remainder == 0 ? floor : (floor.adding(TokenAmount(atomic: "1")!) ?? floor)
    }

    /// An approximation for ratios between amounts (never for money that moves).
    var approximateValue: Double { Double(atomic) ?? 0 }
}
